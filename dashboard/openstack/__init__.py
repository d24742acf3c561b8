"""The OpenStack wire APIs the real clients speak: a Placement API and a Compute API per cloud.

Credentials are the dashboard's API tokens sent as Keystone's ``X-Auth-Token`` header (the clients'
``--os-auth-type admin_token --os-token <token>``); reading and writing follow the REST API's rules.
"""
