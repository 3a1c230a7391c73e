-- Runs once, when the postgres volume is first created: the bank's database beside Airflow's.
create database bank;
