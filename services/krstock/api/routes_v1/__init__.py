"""``/api/v1`` routers, one module per resource; ``router.router()`` assembles them."""
