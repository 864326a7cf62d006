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
    assert gys[0]["loss_db"] == pytest.approx(2.1)   # gys-2005 on its source's 0.21 dB/km fibre
    assert data["curves"][0]["attenuation_db_per_km"] == pytest.approx(0.21)
    assert data["curves"][1]["points"][0]["loss_db"] == pytest.approx(2.0)
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


def test_gys_reach_on_its_fibre_and_override():
    """Issue 13: `qtopo rates --device gys-2005` reaches ~142 km (0.21 dB/km of the GYS experiment, Lo-Ma-Chen
    2005 Table I), not the ~149 km of 0.2 dB/km; an explicit attenuation still wins."""
    _, out, _ = run("--device", "gys-2005", "--distance-km", "100")
    head = out.splitlines()[0]
    assert "0.21 dB/km" in head and "= 14" in head
    km = float(head.split("= ")[1].split(" km")[0])
    assert 140.0 <= km <= 144.0
    _, out, _ = run("--device", "gys-2005", "--distance-km", "100", "--attenuation-db-per-km", "0.2")
    assert "0.2 dB/km" in out.splitlines()[0]


def test_finite_key_block_time_shown():
    code, out, _ = run("--device", "lim-2014-finite", "--distance-km", "0,100", "--format", "json")
    assert code == 0
    c = json.loads(out)["curves"][0]
    assert c["max_block_time_s"] == 86400.0
    p0, p1 = c["points"]
    assert 0 < p0["block_time_s"] < p1["block_time_s"] <= 86400.0
    assert p0["block_size"] == pytest.approx(1e9)
    code, out, _ = run("--device", "lim-2014-finite", "--distance-km", "0,100")
    assert "block_time_s" in out and "finite-key block filled within 8.64e+04 s" in out
    _, out, _ = run("--device", "apd-bb84", "--distance-km", "0", "--format", "json")
    assert json.loads(out)["curves"][0]["points"][0]["block_time_s"] is None


def test_list_has_no_unchecked_preset():
    _, out, _ = run("--list")
    assert "check against" not in out.lower() and "in the style of" not in out.lower()
