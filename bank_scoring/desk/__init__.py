"""The agents' desk: web pages and the REST API over the agents' side (``create_app``)."""
