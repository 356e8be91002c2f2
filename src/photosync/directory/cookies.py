"""Values the browser keeps for us, signed with itsdangerous: the session cookie, the sign-in token.

Each use has its own salt, so a signature made for one can never pass as the other. itsdangerous
compares signatures in constant time. No web import: the portal and the API's cookie check
(``directory/auth.py``) both call these with the settings' signing key.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, Signer, TimestampSigner

SESSION_SALT = "photosync.session-cookie"
SIGNIN_FORM_SALT = "photosync.signin-form"
DEVICE_SALT = "photosync.known-device"
# How long a browser stays a familiar source of sign-ins to an account after signing in to it.
DEVICE_MAX_AGE = 90 * 24 * 3600
# As long as the sign-in cookie that carries the nonce lives.
SIGNIN_FORM_MAX_AGE = 3600


def _session_signer(key: str) -> Signer:
    return Signer(key, salt=SESSION_SALT, digest_method=hashlib.sha256)


def _signin_signer(key: str) -> TimestampSigner:
    return TimestampSigner(key, salt=SIGNIN_FORM_SALT, digest_method=hashlib.sha256)


def sign_session_id(key: str, session_id: str) -> str:
    """The session cookie's value: the session id and its signature."""
    return _session_signer(key).sign(session_id).decode()


def unsign_session_id(key: str, value: str) -> str | None:
    """The session id in a cookie value, or None if the signature is not ours."""
    try:
        return _session_signer(key).unsign(value).decode()
    except BadSignature:
        return None


def signin_form_token_for(key: str, nonce: str) -> str:
    """The sign-in form's hidden token: when it was made and a signature over it and the nonce.

    The nonce itself stays in its HttpOnly cookie; the page carries only the signature, which a
    cross-site form cannot make without the browser's nonce and our key (login CSRF).
    """
    signed = _signin_signer(key).sign(nonce).decode()
    return signed[len(nonce) + 1 :]


def signin_form_token_ok(key: str, nonce: str, token: str) -> bool:
    """Whether ``token`` was made by ``signin_form_token_for`` for this nonce, within the hour."""
    try:
        _signin_signer(key).unsign(f"{nonce}.{token}", max_age=SIGNIN_FORM_MAX_AGE)
    except BadSignature:  # includes SignatureExpired
        return False
    return True


def _device_signer(key: str) -> TimestampSigner:
    return TimestampSigner(key, salt=DEVICE_SALT, digest_method=hashlib.sha256)


def sign_known_device(key: str, user_id: str) -> str:
    """The known-device cookie's value: the account this browser signed in to, signed and
    timestamped (smart lock-out: a sign-in from here to that account is familiar)."""
    return _device_signer(key).sign(user_id).decode()


def known_device_user(key: str, value: str) -> str | None:
    """The user id a known-device cookie names, or None if it is not ours or too old."""
    try:
        return _device_signer(key).unsign(value, max_age=DEVICE_MAX_AGE).decode()
    except BadSignature:  # includes SignatureExpired
        return None
