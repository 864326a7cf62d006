"""``qtopo rates`` command (tested standalone inside a tiny group that mimics the main CLI's error mapping)."""
import csv
import io
import json

import click
import pytest
from click.testing import CliRunner

from qtopo.cli.rates import parse_distances, rates_command
from qtopo.errors import InputError


@click.group()
def _cli():
    pass


_cli.add_command(rates_command)


def run(*args):
    res = CliRunner().invoke(_cli, ["rates", *args])
    if isinstance(res.exception, InputError):
        return 4, res.output, res.exception
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output, None


def test_table_default_preset_per_protocol():
    code, out, _ = run("--protocol", "bb84-decoy", "--distance-km", "0:100:50")
    assert code == 0
    assert "apd-bb84" in out and "loss_db" in out and "rate_bps" in out
    assert out.count("\n") >= 5


def test_compare_protocols_json_and_device_choice():
    code, out, _ = run("--protocol", "bb84-decoy", "--device", "gys-2005", "--protocol", "tf-sns",
                       "--distance-km", "10,100,200", "--format", "json")
    assert code == 0
    data = json.loads(out)
    names = [c["device"] for c in data["curves"]]
    assert names == ["gys-2005", "tf-sns"]
    gys = data["curves"][0]["points"]
    assert [p["distance_km"] for p in gys] == [10, 100, 200]
    assert gys[0]["loss_db"] == pytest.approx(2.0)
    assert gys[2]["rate_bps"] == 0.0       # beyond the GYS reach
    assert gys[0]["rate_bps"] == pytest.approx(gys[0]["bits_per_pulse"] * 2e6)
    assert data["curves"][1]["points"][2]["rate_bps"] > 0


def test_csv_and_attenuation():
    code, out, _ = run("--device", "snspd-bb84", "--distance-km", "0:20:10", "--fibre", "ultra-low-loss",
                       "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3
    assert float(rows[2]["loss_db"]) == pytest.approx(3.2)


def test_plot_writes_png(tmp_path):
    f = tmp_path / "rates.png"
    code, _, _ = run("--protocol", "mdi-qkd", "--protocol", "cv-gg02", "--distance-km", "0:200:20", "--plot", str(f))
    assert code == 0
    assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_list_shows_protocols_presets_sources():
    code, out, _ = run("--list")
    assert code == 0
    for name in ("bb84-decoy", "tf-sns", "cv-gg02", "gys-2005", "cv-jouguet-2013", "ultra-low-loss"):
        assert name in out
    assert "PRL 94, 230504" in out
    code, out, _ = run("--list", "--format", "json")
    assert {"protocols", "presets", "fibre_types"} <= set(json.loads(out))


def test_set_override():
    _, a, _ = run("--device", "apd-bb84", "--distance-km", "50", "--format", "json")
    _, b, _ = run("--device", "apd-bb84", "--distance-km", "50", "--format", "json", "--set", "detector_efficiency=0.4")
    ra = json.loads(a)["curves"][0]["points"][0]["rate_bps"]
    rb = json.loads(b)["curves"][0]["points"][0]["rate_bps"]
    assert rb > ra > 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--protocol", "bb85"], "--protocol"),
        (["--device", "gys-2006"], "gys-2005"),
        (["--protocol", "bb84-decoy", "--distance-km", "-10:5"], "--distance-km"),
        (["--protocol", "bb84-decoy", "--distance-km", "0:10:0"], "--distance-km"),
        (["--protocol", "bb84-decoy", "--distance-km", "a,b"], "--distance-km"),
        (["--protocol", "mdi-qkd", "--device", "gys-2005"], "--device"),
        (["--device", "gys-2005", "--set", "detector_efficiency=1.5"], "detector_efficiency"),
        (["--device", "gys-2005", "--set", "nonsense"], "--set"),
        (["--device", "gys-2005", "--attenuation-db-per-km", "-0.2"], "--attenuation-db-per-km"),
        (["--device", "gys-2005", "--fibre", "standart"], "standard"),
        ([], "--protocol"),
    ],
)
def test_bad_input_raises_input_error(args, needle):
    code, _, exc = run(*args)
    assert code == 4
    assert needle in str(exc)


def test_parse_distances():
    assert parse_distances("0:300:10").tolist()[-1] == 300
    assert len(parse_distances("0:300:10")) == 31
    assert parse_distances("5, 7.5").tolist() == [5.0, 7.5]
    with pytest.raises(InputError):
        parse_distances("0:1e9:1e-3")
