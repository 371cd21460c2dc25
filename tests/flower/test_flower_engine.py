"""``run_flower`` dispatch, its typed failures, and the deployment files Flower itself must accept.

Defects caught: a missing flwr or a driver without the round-engine seam surfacing as an
ImportError/AttributeError deep inside instead of CapabilityMissing with a remediation; an app
``pyproject.toml`` that ``flwr run`` would reject (bad TOML, wrong component references, missing
fields); a connection file ``flwr`` cannot read; ``local-only`` needlessly spinning up Ray.
"""

from __future__ import annotations

import sys

import pytest

from lensemble_reference.flower import require_flwr, require_seam
from lensemble_reference.flower.deploy import (
    CLIENT_COMPONENT,
    SERVER_COMPONENT,
    main,
    write_app,
    write_connection,
)
from lensemble_spec.errors import ArtifactError, CapabilityMissing, ConfigError

from ._helpers import tiny_config


def test_missing_flwr_is_capability_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "flwr.app", None)  # import flwr.app now raises ImportError
    with pytest.raises(CapabilityMissing) as info:
        require_flwr()
    assert "flower" in info.value.remediation


def test_missing_seam_is_capability_missing(monkeypatch):
    from lensemble_reference import federation

    monkeypatch.delattr(federation, "InProcessRounds", raising=False)
    with pytest.raises(CapabilityMissing):
        require_seam()


def test_local_only_runs_in_process_without_ray(tmp_path, monkeypatch):
    import flwr.simulation

    from lensemble_reference.controls import run_control, world_inputs
    from lensemble_reference.flower.engine import run_flower

    def _no_ray(*args, **kwargs):  # pragma: no cover - the assertion is that this is never called
        raise AssertionError("local-only must not start the simulation engine")

    monkeypatch.setattr(flwr.simulation, "run_simulation", _no_ray)
    cfg = tiny_config("local-only", rounds=1)
    inputs = world_inputs(cfg)
    got = run_flower(cfg, inputs, tmp_path / "flower")
    ref = run_control(cfg, inputs, tmp_path / "inprocess")
    assert [r["participants"] for r in got.records] == [r["participants"] for r in ref.records]
    assert sorted(got.participant_params) == sorted(ref.participant_params)


def test_app_pyproject_passes_flowers_own_validation(tmp_path):
    from flwr.cli.config_utils import load_and_validate

    app = write_app(
        tmp_path / "app", out_dir=tmp_path / "run", config=tmp_path / "cfg.json", control="naive-fedavg", timeout=99.0
    )
    config, warnings = load_and_validate(app / "pyproject.toml", check_module=True)  # imports resolve here
    assert warnings == []
    flwr_app = config["tool"]["flwr"]["app"]
    assert flwr_app["components"] == {"serverapp": SERVER_COMPONENT, "clientapp": CLIENT_COMPONENT}
    run = flwr_app["config"]
    assert run["out-dir"] == str((tmp_path / "run").resolve()) and run["control"] == "naive-fedavg"
    assert run["config"] == str((tmp_path / "cfg.json").resolve()) and run["timeout"] == 99.0


def test_app_refuses_controls_without_federation(tmp_path):
    with pytest.raises(ConfigError):
        write_app(tmp_path / "app", out_dir=tmp_path / "run", control="centralized")


def test_connection_file_is_read_by_flwr(tmp_path, monkeypatch):
    from flwr.cli.flower_config import read_superlink_connection

    monkeypatch.setenv("FLWR_HOME", str(tmp_path))
    write_connection(tmp_path, name="lensemble", address="127.0.0.1:9093")
    conn = read_superlink_connection(None)  # the default connection
    assert conn.name == "lensemble" and conn.address == "127.0.0.1:9093" and conn.insecure is True


def test_deploy_cli_writes_app_and_silo_files(tmp_path, capsys):
    assert main(["app", str(tmp_path / "app"), "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "app" / "pyproject.toml").is_file()
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text('{"world": {"image_size": 16, "probe_size": 8, "episodes_per_silo": 2, "horizon": 3}, '
                        '"model": {"image_size": 16, "latent_dim": 4}}')
    assert main(["silos", str(tmp_path / "silos"), "--config", str(cfg_file)]) == 0
    assert sorted(p.name for p in (tmp_path / "silos").iterdir()) == [
        "index.json", "silo0.safetensors", "silo1.safetensors", "silo2.safetensors", "silo3.safetensors"
    ]
    assert main(["silos", str(tmp_path / "s2"), "--config", str(tmp_path / "missing.json")]) == 1
    assert "config_invalid" in capsys.readouterr().err


def test_non_empty_output_directory_is_refused_before_ray_starts(tmp_path, monkeypatch):
    import flwr.simulation

    from lensemble_reference.controls import world_inputs
    from lensemble_reference.flower.engine import run_flower

    monkeypatch.setattr(flwr.simulation, "run_simulation", lambda *a, **k: pytest.fail("Ray must not start"))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("an earlier run")
    cfg = tiny_config("anchored", rounds=1)
    with pytest.raises(ArtifactError):
        run_flower(cfg, world_inputs(cfg), tmp_path / "taken")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "an earlier run"


def test_tls_connection_and_app_run_config_are_read_by_flwr(tmp_path, monkeypatch):
    from flwr.cli.config_utils import load_and_validate
    from flwr.cli.flower_config import read_superlink_connection

    monkeypatch.setenv("FLWR_HOME", str(tmp_path))
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    write_connection(tmp_path, name="federation", address="10.0.0.5:9093", root_certificates=tmp_path / "ca.crt")
    conn = read_superlink_connection(None)
    assert conn.insecure is False and conn.root_certificates == str((tmp_path / "ca.crt").resolve())
    app = write_app(
        tmp_path / "app", out_dir=tmp_path / "run", control="anchored", sites=4, rejoin_wait=30.0,
        probe=tmp_path / "probe.safetensors", probe_hash="a" * 64,
    )
    run = load_and_validate(app / "pyproject.toml", check_module=False)[0]["tool"]["flwr"]["app"]["config"]
    assert (run["sites"], run["rejoin-wait"], run["probe-hash"]) == (4, 30.0, "a" * 64)
    assert run["probe"] == str((tmp_path / "probe.safetensors").resolve())
    with pytest.raises(ConfigError, match="pinned"):
        write_app(tmp_path / "app2", out_dir=tmp_path / "run", probe=tmp_path / "probe.safetensors")


def test_keys_cli_writes_a_ca_signed_certificate_and_openssh_node_keys(tmp_path, capsys):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key
    from flwr.cli.supernode.register import try_load_public_key

    args = ["keys", str(tmp_path / "creds"), "--nodes", "2", "--host", "127.0.0.1", "--host", "coord.example"]
    assert main(args) == 0
    creds = tmp_path / "creds"
    ca = x509.load_pem_x509_certificate((creds / "ca.crt").read_bytes())
    cert = x509.load_pem_x509_certificate((creds / "server.pem").read_bytes())
    cert.verify_directly_issued_by(ca)  # raises unless the CA signed it
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["coord.example"]
    for i in range(2):
        private = load_ssh_private_key((creds / f"node{i}.key").read_bytes(), None)
        public = load_ssh_public_key((creds / f"node{i}.pub").read_bytes())
        assert private.public_key().public_numbers() == public.public_numbers()
        assert try_load_public_key(creds / f"node{i}.pub")  # what `flwr supernode register` accepts
        assert (creds / f"node{i}.key").stat().st_mode & 0o077 == 0
    assert (creds / "node0.pub").read_bytes() != (creds / "node1.pub").read_bytes()


def test_evaluate_cli_scores_every_round_from_the_run_directory_and_a_heldout_file(tmp_path):
    import json

    import numpy as np
    from safetensors.numpy import save_file

    from lensemble_reference.controls import run_control, world_splits
    from lensemble_reference.evaluate import evaluate_run

    cfg = tiny_config("anchored", rounds=1)
    inputs, heldout = world_splits(cfg)
    run = run_control(cfg, inputs, tmp_path / "run").run_dir
    held = tmp_path / "heldout.safetensors"
    save_file({f: np.ascontiguousarray(getattr(heldout, f)) for f in ("obs", "actions", "states")}, str(held))
    assert main(["evaluate", str(run), str(held), "--out", str(tmp_path / "m.json")]) == 0
    got = json.loads((tmp_path / "m.json").read_text())
    assert len(got["rounds"]) == 2 and got["control"] == "anchored"
    assert got == json.loads(json.dumps(evaluate_run(run, heldout)))
