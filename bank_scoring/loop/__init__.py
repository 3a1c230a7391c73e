"""Closing the loop: what agents record goes back into training and into tomorrow's features.

- :mod:`bank_scoring.loop.harvest`: finished calls become campaign_contacts rows, each once,
  with the customer's attributes as they were at the call.
- :mod:`bank_scoring.loop.roll`: the customers' campaign attributes follow the calls.
- :mod:`bank_scoring.loop.control`: the persistent control group kept out of the pool, and
  the logged exploration slice drawn from below the cut into the list.
"""
