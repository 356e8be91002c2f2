"""The avatar URL other apps use (Libravatar/Gravatar protocol): ``/avatar/{hash}``."""
