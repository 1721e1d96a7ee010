"""The campaigns API: ``api.create_app`` (routes), ``handler.handler`` (the Lambda entry).

``repository.active_discounts`` is the query the orders service uses; importing it does not
build or import the app. This file stays import-free for the same reason.
"""
