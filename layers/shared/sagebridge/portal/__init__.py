"""The tenant portal: server-rendered pages a host app links its users to (docs/portal.md)."""
