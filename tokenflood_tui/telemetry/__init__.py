"""Server telemetry: the server's Prometheus metrics, scraped off the request path and
read the same way whatever the engine."""
