"""`kogi serve`: run the HTTP API with uvicorn."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to bind."),
        port: int = typer.Option(8000, help="TCP port."),
    ) -> None:
        """Serve the API; in embedded mode (KOGI_EMBEDDED_CHAIN, the default) also anvil on KOGI_CHAIN_PORT,
        the core contracts and the indexer, started and stopped with the API."""
        import uvicorn

        uvicorn.run("api.app:create_app", factory=True, host=host, port=port)
