"""Which environment variables hold credentials, by their names. The standard library only: the
launcher reads it before it imports anything else (client/embedded/pending_worker.py)."""

from __future__ import annotations

import re

SECRET_NAME = re.compile(r"(API_KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|(^|_)AUTH($|_(?!SOCK$)))", re.I)
"""Names of credential-like variables: their values never enter a history, a memo or a result.
AUTH as a word of the name (NPM_AUTH, AUTH_HEADER), not GIT_AUTHOR_EMAIL, XAUTHORITY or SSH_AUTH_SOCK,
whose values are names and paths that redacting would blank out of every log."""
