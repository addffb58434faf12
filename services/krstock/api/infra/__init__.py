"""The HTTP plumbing every service shares: state, errors, responses, cache, keys, limits, metrics,
middleware, and the registry and client for calls between services."""
