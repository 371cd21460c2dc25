"""Throwaway credentials for a secured Flower deployment: a CA, the SuperLink's TLS certificate and
SuperNode authentication keys (``cryptography``, which ``flwr`` depends on).

What Flower 1.41 uses them for (flags checked against the installed ``--help``):

* TLS — ``flower-superlink --ssl-ca-certfile ca.crt --ssl-certfile server.pem --ssl-keyfile
  server.key`` and ``flower-supernode --root-certificates ca.crt``; ``flwr`` reads
  ``root-certificates`` from its connection config. The server certificate names every host the
  SuperLink is reached by (subjectAltName: IP addresses and DNS names);
* SuperNode authentication — ``flower-superlink --enable-supernode-auth``; each site makes an
  ECDSA key pair on a NIST curve (here P-384) in OpenSSH format, keeps the private key
  (``flower-supernode --auth-supernode-private-key node.key``) and hands the PUBLIC key to the
  federation's operator, who registers it: ``flwr supernode register node.pub <connection>``. A
  SuperNode whose key is not registered is refused at connection time.

These are for tests and demos (the CA key sits next to the certificates, validity is one
day). For a real federation make them with your organisation's CA; docs/flower.md shows the
``openssl`` / ``ssh-keygen`` commands.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from lensemble_spec.artifacts import atomic_write_bytes


def _name(common: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def write_tls(
    directory: str | Path, hosts: Sequence[str] = ("127.0.0.1", "localhost"), days: int = 1
) -> dict[str, Path]:
    """``ca.crt``, ``server.pem`` (signed by the CA, SANs = ``hosts``) and ``server.key`` in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("lensemble-spec test CA"))
        .issuer_name(_name("lensemble-spec test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP384R1())
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    out = {
        "ca": atomic_write_bytes(d / "ca.crt", ca.public_bytes(pem)),
        "cert": atomic_write_bytes(d / "server.pem", cert.public_bytes(pem)),
        "key": atomic_write_bytes(
            d / "server.key",
            key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()),
        ),
    }
    return out


def write_node_key(directory: str | Path, name: str) -> tuple[Path, Path]:
    """``<name>.key`` (OpenSSH private key) and ``<name>.pub`` (OpenSSH public key), ECDSA P-384."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    key_path = atomic_write_bytes(d / f"{name}.key", private)
    key_path.chmod(0o600)
    return key_path, atomic_write_bytes(d / f"{name}.pub", public + f" {name}\n".encode())


def write_credentials(
    directory: str | Path, *, nodes: int, hosts: Sequence[str] = ("127.0.0.1", "localhost")
) -> list[Path]:
    """TLS files and ``node<i>.key``/``node<i>.pub`` for ``nodes`` SuperNodes; the paths written."""
    tls = write_tls(directory, hosts)
    paths = [tls["ca"], tls["cert"], tls["key"]]
    for i in range(nodes):
        paths.extend(write_node_key(directory, f"node{i}"))
    return paths
