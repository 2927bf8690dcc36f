"""HTTP routers: thin translations between HTTP and one `LedgerStore` call each."""
