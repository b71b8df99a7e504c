"""The operators' command line (``crmhub``): the hub's REST API from a terminal."""
