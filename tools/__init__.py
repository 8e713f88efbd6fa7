"""What the dashboard is built and measured with, apart from the product: the sandbox store, the
benchmark, and the helpers that start their processes. No module of `dashboard` imports these."""
