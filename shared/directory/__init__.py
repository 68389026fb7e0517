"""The directory every service reads: employers, providers, their webhook endpoints,
and API clients. The `bridgeline` CLI writes it (see `shared.directory.cli`)."""

from shared.directory.credentials import ClientToken, hash_secret, parse_token
from shared.directory.model import ROLES, ApiClient, Employer, Provider
from shared.directory.service import Directory, DirectoryError

__all__ = [
    "ROLES",
    "ApiClient",
    "ClientToken",
    "Directory",
    "DirectoryError",
    "Employer",
    "Provider",
    "hash_secret",
    "parse_token",
]
