"""What operators do to tenants, out of the engines: the admin API's models and operations, the
tenant status (connection, outcome counts, open failures, mapping health) and its HTML page."""
