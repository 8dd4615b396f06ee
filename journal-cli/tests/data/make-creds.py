#!/usr/bin/env python3
"""Remakes the NATS credentials of journal-cli/tests/nats.rs (see README.md here): an operator, an
account with JetStream, a user of that account (user.creds), and a user of an account the server
does not know (stranger.creds); operator.conf is the server configuration fragment that trusts the
operator and preloads the account (and a system account, which JetStream needs). No claim expires. Needs python3 with `cryptography`. The test
suite never runs this: it reads the committed files."""

import base64, hashlib, json, os, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

PREFIX = {"operator": 14 << 3, "account": 0, "user": 20 << 3}
SEED = 18 << 3


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def b32(data):
    data = data + crc16(data).to_bytes(2, "little")
    return base64.b32encode(data).decode().rstrip("=")


class Key:
    def __init__(self, kind):
        self.kind = kind
        self.sk = Ed25519PrivateKey.generate()
        raw = self.sk.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = b32(bytes([PREFIX[kind]]) + raw)
        seed = self.sk.private_bytes(serialization.Encoding.Raw,
                                     serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        p = PREFIX[kind]
        self.seed = b32(bytes([SEED | (p >> 5), (p & 31) << 3]) + seed)


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(issuer, subject, nats):
    claims = {"jti": "", "iat": int(time.time()), "iss": issuer.public,
              "name": "journal-test", "sub": subject.public, "nats": nats}
    claims["jti"] = base64.b32encode(hashlib.sha256(
        json.dumps(claims, separators=(",", ":")).encode()).digest()).decode().rstrip("=")
    head = b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = b64(issuer.sk.sign(f"{head}.{body}".encode()))
    return f"{head}.{body}.{sig}"


def account_jwt(op, acc):
    return jwt(op, acc, {
        "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                   "wildcards": True, "conn": -1, "leaf": -1, "mem_storage": -1,
                   "disk_storage": -1, "streams": -1, "consumer": -1},
        "default_permissions": {"pub": {}, "sub": {}}, "type": "account", "version": 2})


def creds(acc, user):
    token = jwt(acc, user, {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                            "type": "user", "version": 2})
    return ("-----BEGIN NATS USER JWT-----\n" + token + "\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            "-----BEGIN USER NKEY SEED-----\n" + user.seed + "\n------END USER NKEY SEED------\n")


os.chdir(os.path.dirname(os.path.abspath(__file__)))
op, acc, other = Key("operator"), Key("account"), Key("account")
sys_acc = Key("account")  # JetStream needs a system account
with open("operator.conf", "w") as f:
    f.write("# Written by make-creds.py: trust the test operator, preload its account.\n"
            f'operator: "{jwt(op, op, {"type": "operator", "version": 2})}"\n'
            f"system_account: {sys_acc.public}\n"
            "resolver: MEMORY\n"
            f'resolver_preload: {{\n  {acc.public}: "{account_jwt(op, acc)}"\n'
            f'  {sys_acc.public}: "{jwt(op, sys_acc, {"type": "account", "version": 2})}"\n}}\n')
with open("user.creds", "w") as f:
    f.write(creds(acc, Key("user")))
with open("stranger.creds", "w") as f:
    f.write(creds(other, Key("user")))
