"""`wandb.apis.paginator`: the paginator base classes."""

from ..paginator import Paginator, SizedPaginator

__all__ = ["Paginator", "SizedPaginator"]
