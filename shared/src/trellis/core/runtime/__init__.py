"""Running a service: settings, wiring (``service``), HTTP (auth, errors, the request kit, overload,
OpenAPI), logging, the embedded nats-server and the test clock's route.
"""
