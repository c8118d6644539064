"""On-device benchmarking: the wire protocol's host side, links, the harness, statistics and reports."""
