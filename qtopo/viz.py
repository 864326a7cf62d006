"""Maps of a plan: a static PNG (matplotlib) and an interactive, offline HTML map (folium / Leaflet).

Everything drawn comes from the plan (``plan.json``) and, optionally, the fibre network it was planned on;
nothing is recomputed here. Static maps are drawn in a metric projection (EPSG:3035, LAEA Europe, for plans
inside Europe; otherwise a Lambert azimuthal equal-area projection centred on the plan), never in degrees.

Interactive maps carry no base tiles by default (``tiles=None``): country outlines from the bundled Natural
Earth data give the context instead, and :func:`save_map_html` inlines Leaflet and jQuery (vendored in
``qtopo/templates/vendor``, see its README) so the page works with no network at all.
"""
from __future__ import annotations

import base64
import contextlib
import html as _html
import logging
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .contract import Link, Node, Plan

log = logging.getLogger(__name__)

__all__ = ["plan_map_png", "plan_map_folium", "save_map_html", "map_crs", "COLOR_BY", "KIND_STYLE"]

NATURALEARTH = Path(__file__).resolve().parents[1] / "data" / "naturalearth"
VENDOR = Path(__file__).resolve().parent / "templates" / "vendor"
EUROPE_BOX = (-32.0, 26.0, 45.0, 72.0)  # lon/lat extent of EPSG:3035 use and of countries_europe_10m.gpkg

#: Link metrics a map can be coloured by: plan.json link key -> (legend label, log scale?)
COLOR_BY = {
    "capacity_bps": ("link capacity (bit/s)", True),
    "rate_bps_per_pair": ("key rate per device pair (bit/s)", True),
    "load_bps": ("link load (bit/s)", True),
    "utilisation": ("link utilisation (load / capacity)", False),
}

#: Node styles by kind: plan node kind (``trusted_hut``: a trusted node in a new in-line hut) ->
#: legend label, matplotlib marker, colour, marker area (pt^2), folium circle radius (px), layer name.
KIND_STYLE = {
    "site": ("site (data centre / PoP)", "s", "#1f3b73", 110, 8, "Sites"),
    "trusted": ("trusted node (existing PoP)", "o", "#e6550d", 55, 6, "Trusted nodes"),
    "trusted_hut": ("trusted node (new in-line hut)", "^", "#a63603", 65, 6, "Trusted nodes"),
    "repeater": ("quantum repeater", "D", "#6a51a3", 55, 6, "Repeaters"),
    "relay": ("untrusted relay (MDI / twin-field)", "P", "#238b45", 65, 6, "Relays"),
    "other": ("other node", "X", "#636363", 45, 5, "Other nodes"),
}
_KIND_ORDER = ["site", "trusted", "trusted_hut", "repeater", "relay", "other"]
_CMAP = "viridis"
_FIBRE_COLOR = "#a8a8a8"
_DEMAND_COLORS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#17becf",
                  "#bcbd22", "#7f7f7f"]


# ------------------------------------------------------------------------------------------------------
# plan access (shared by both maps)
# ------------------------------------------------------------------------------------------------------
def _data(plan) -> Plan:
    """The typed plan (a ``plan.json`` dict is read through the contract: migrated and validated)."""
    return plan if isinstance(plan, Plan) else Plan.from_dict(plan, source="plan")


def node_kind(node: Node) -> str:
    """Style key of a plan node: its ``kind``, with trusted nodes in new huts told apart.

    Parameters
    ----------
    node : Node
        A plan node.

    Returns
    -------
    str
        A key of :data:`KIND_STYLE`.
    """
    k = node.kind
    if k == "trusted" and node.site_kind == "hut":
        return "trusted_hut"
    return k if k in KIND_STYLE else "other"


def _link_coords(d: Plan, ends: tuple, fibre_path: list | None = None) -> list:
    """(lon, lat) along a link's fibre path; a straight line between its ends without fibre coordinates."""
    coords = d.fibre_coords
    path = fibre_path or list(ends)
    pts = [coords[n] for n in path if n in coords]
    if len(pts) < 2:  # no fibre coordinates: straight line between the link's end nodes
        nodes = {n.id: (n.lon, n.lat) for n in d.nodes}
        pts = [nodes[n] for n in ends if n in nodes]
    return [tuple(p) for p in pts]


def _route_coords(d: Plan, route_nodes: list) -> list:
    links = {}
    for L in d.links:
        links.setdefault((L.from_node, L.to_node), L)
    pts = []
    for a, b in zip(route_nodes[:-1], route_nodes[1:]):
        L = links.get((a, b)) or links.get((b, a))
        seg = _link_coords(d, (L.from_node, L.to_node), L.fibre_path) if L is not None else _link_coords(d, (a, b))
        if L is not None and L.from_node != a:
            seg = seg[::-1]
        pts.extend(seg if not pts else seg[1:])
    return pts


def _fibre_lines(plan, network=None) -> list:
    """Fibre segments to draw as background, as lists of (lon, lat), with attributes.

    From ``network.edges`` when given; else from the ``fibre`` layer of the ``plan.gpkg`` next to a plan read
    from disk; else from the links' fibre paths (only the fibre the plan uses).
    """
    import shapely

    edges = None
    if network is not None and getattr(network, "edges", None) is not None:
        edges = network.edges
    else:
        p = getattr(plan, "path", None)
        gpkg = Path(p).with_name("plan.gpkg") if p else None
        if gpkg is not None and gpkg.exists():
            try:
                import pyogrio

                if "fibre" in [r[0] for r in pyogrio.list_layers(gpkg)]:
                    edges = pyogrio.read_dataframe(gpkg, layer="fibre")
            except Exception as e:  # noqa: BLE001 - a broken side file must not stop the map
                log.warning("cannot read fibre layer of %s: %s", gpkg, e)
    out = []
    if edges is not None and len(edges):
        if edges.crs is not None and not edges.crs.equals("EPSG:4326"):
            edges = edges.to_crs("EPSG:4326")
        for row in edges.itertuples():
            g = row.geometry
            if g is None or g.is_empty:
                continue
            parts = g.geoms if isinstance(g, shapely.MultiLineString) else [g]
            attrs = {k: getattr(row, k) for k in ("u", "v", "length_km", "route_id") if hasattr(row, k)}
            out.extend((list(map(tuple, np.asarray(p.coords)[:, :2])), attrs) for p in parts)
        return out
    d = _data(plan)
    seen = set()
    coords = d.fibre_coords
    for L in d.links:
        path = L.fibre_path
        for a, b in zip(path[:-1], path[1:]):
            key = (min(a, b), max(a, b))
            if key in seen or a not in coords or b not in coords:
                continue
            seen.add(key)
            out.append(([tuple(coords[a]), tuple(coords[b])], {"u": a, "v": b}))
    return out


def _network_sites(network) -> list:
    """Site nodes of the fibre network (for infeasible plans, which have no nodes)."""
    if network is None or getattr(network, "nodes", None) is None:
        return []
    out = []
    nodes = network.nodes
    for nid, row in nodes.iterrows():
        sids = row.get("site_ids", ()) if hasattr(row, "get") else ()
        if isinstance(sids, (tuple, list)) and len(sids):
            out.append(Node(id=str(nid), site_kind=str(row.get("kind", "")), lon=float(row["lon"]),
                            lat=float(row["lat"]), existing=False, kind="site", cost_eur=0.0, degree=0))
    return out


def _plan_nodes(plan, network=None) -> list:
    d = _data(plan)
    nodes = list(d.nodes)
    return nodes if nodes else _network_sites(network)


def _all_lonlat(plan, fibre: list, nodes: list) -> np.ndarray:
    pts = [(n.lon, n.lat) for n in nodes]
    for line, _ in fibre:
        pts.extend(line)
    pts.extend(tuple(v) for v in _data(plan).fibre_coords.values())
    return np.asarray(pts, dtype=float).reshape(-1, 2)


def map_crs(lon, lat):
    """The metric CRS of a static map covering these points.

    Parameters
    ----------
    lon, lat : array-like
        Degrees (EPSG:4326).

    Returns
    -------
    pyproj.CRS
        EPSG:3035 (ETRS89 LAEA Europe) when every point lies inside Europe (lon -32..45, lat 26..72),
        otherwise a Lambert azimuthal equal-area projection centred on the points.
    """
    import pyproj

    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    if lon.size == 0:
        return pyproj.CRS.from_epsg(3035)
    x0, y0, x1, y1 = EUROPE_BOX
    if lon.min() >= x0 and lon.max() <= x1 and lat.min() >= y0 and lat.max() <= y1:
        return pyproj.CRS.from_epsg(3035)
    # centre: mean direction on the sphere (robust across the antimeridian)
    lo, la = np.radians(lon), np.radians(lat)
    x, y, z = (np.cos(la) * np.cos(lo)).mean(), (np.cos(la) * np.sin(lo)).mean(), np.sin(la).mean()
    lon0, lat0 = math.degrees(math.atan2(y, x)), math.degrees(math.atan2(z, math.hypot(x, y)))
    return pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat0:.4f} +lon_0={lon0:.4f} +datum=WGS84 +units=m +no_defs")


def _countries(countries, lonlat: np.ndarray, margin_deg: float = 3.0):
    """Country outlines clipped to the data's lon/lat box (GeoDataFrame in EPSG:4326) or None."""
    import geopandas as gpd
    import shapely

    if countries is False:
        return None
    if countries is None:
        in_europe = lonlat.size and (lonlat[:, 0].min() >= EUROPE_BOX[0] and lonlat[:, 0].max() <= EUROPE_BOX[2]
                                     and lonlat[:, 1].min() >= EUROPE_BOX[1] and lonlat[:, 1].max() <= EUROPE_BOX[3])
        cands = (["countries_europe_10m.gpkg"] if in_europe else []) + ["countries.gpkg"]
        path = next((NATURALEARTH / c for c in cands if (NATURALEARTH / c).exists()), None)
        if path is None:
            log.info("no Natural Earth country outlines in %s: map drawn without them", NATURALEARTH)
            return None
        countries = path
    if not isinstance(countries, gpd.GeoDataFrame):
        try:
            countries = gpd.read_file(countries)
        except Exception as e:  # noqa: BLE001 - outlines are decoration
            log.warning("cannot read country outlines %s: %s", countries, e)
            return None
    if countries.crs is not None and not countries.crs.equals("EPSG:4326"):
        countries = countries.to_crs("EPSG:4326")
    if lonlat.size:
        # clip in degrees: only to cut the polygons down before projecting (no measurement in degrees)
        box = shapely.box(max(lonlat[:, 0].min() - margin_deg, -180), max(lonlat[:, 1].min() - margin_deg, -89.9),
                          min(lonlat[:, 0].max() + margin_deg, 180), min(lonlat[:, 1].max() + margin_deg, 89.9))
        countries = countries.clip(box)
        countries = countries[~countries.geometry.is_empty]
    return countries


def _color_scale(d: Plan, color_by: str):
    """(norm, cmap, label) for the link metric ``color_by``."""
    import matplotlib
    from matplotlib.colors import LogNorm, Normalize

    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {sorted(COLOR_BY)}, not {color_by!r}")
    label, log_scale = COLOR_BY[color_by]
    vals = np.array([float(getattr(L, color_by) or 0.0) for L in d.links])
    cmap = matplotlib.colormaps[_CMAP]
    if log_scale:
        pos = vals[vals > 0]
        lo, hi = (pos.min(), pos.max()) if pos.size else (1.0, 10.0)
        if hi <= lo * 1.0001:
            lo, hi = lo / 2.0, hi * 2.0
        return LogNorm(vmin=lo, vmax=hi, clip=True), cmap, label
    return Normalize(vmin=0.0, vmax=max(1.0, float(vals.max()) if vals.size else 1.0), clip=True), cmap, label


def _width(pairs) -> float:
    return 1.2 + 1.4 * min(float(pairs or 1), 6.0)


def _fmt_bps(v) -> str:
    """Human-readable bit rate: 3 significant digits with k/M/G prefixes."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    v = float(v)
    for f, p in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= f:
            return f"{v / f:.3g} {p}bit/s"
    return f"{v:.3g} bit/s"


def _title(d: Plan) -> str:
    name = d.scenario.name or "plan"
    cost = d.cost_eur
    s = f"{name}: {d.status.value}"
    if d.has_plan and isinstance(cost, (int, float)):
        s += f", cost {cost:,.0f} EUR"
        gap = d.gap
        if isinstance(gap, (int, float)) and math.isfinite(gap):
            s += f" (gap {gap:.2%})"
    return s


# ------------------------------------------------------------------------------------------------------
# static map
# ------------------------------------------------------------------------------------------------------
def plan_map_png(plan, path, network=None, countries=None, *, color_by: str = "capacity_bps",
                 dpi: int = 150, label_sites: bool = True) -> Path:
    """Draw a static map of a plan and save it as PNG.

    Parameters
    ----------
    plan : qtopo.plan.Plan or dict
        The plan (``plan.json`` content).
    path : str or Path
        Output PNG file.
    network : qtopo.topology.FibreNetwork, optional
        The fibre network the plan was made on: all its segments are drawn in light grey. Without it, the
        ``fibre`` layer of the ``plan.gpkg`` beside a plan read from disk, or else the fibre the links use.
    countries : GeoDataFrame, path, False or None
        Country outlines. None: the bundled Natural Earth outlines (1:10m Europe for plans in Europe, else
        1:110m world), skipped with a log message if they are absent. False: no outlines.
    color_by : str
        Link metric for the colour (log scale except utilisation): a key of :data:`COLOR_BY`.
    dpi : int
        Resolution.
    label_sites : bool
        Write site ids next to site markers.

    Returns
    -------
    Path
        The PNG written.

    Notes
    -----
    Link width grows with the number of device pairs. Drawn in :func:`map_crs` (metres); a scale bar in km
    is added. Uses matplotlib's object API with the Agg canvas (no pyplot state, no display needed).
    """
    import geopandas as gpd
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    d = _data(plan)
    path = Path(path)
    fibre = _fibre_lines(plan, network)
    nodes = _plan_nodes(plan, network)
    lonlat = _all_lonlat(plan, fibre, nodes)
    crs = map_crs(lonlat[:, 0], lonlat[:, 1]) if lonlat.size else map_crs([], [])

    def proj(lines):
        if not lines:
            return []
        g = gpd.GeoSeries([shapely.LineString(c) if len(c) >= 2 else None for c in lines], crs="EPSG:4326")
        return [np.asarray(x.coords) if x is not None else np.zeros((0, 2)) for x in g.to_crs(crs)]

    fig = Figure(figsize=(10, 10), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor("#eaf2f8")
    ax.set_aspect("equal")
    limits = _png_extent(fig, ax, lonlat, crs)

    # countries (nothing located: no outlines, a message instead)
    ctry = _countries(countries, lonlat) if lonlat.size else None
    if not lonlat.size:
        ax.set_facecolor("white")
        ax.set_aspect("auto")
        ax.text(0.5, 0.5, "nothing to draw:\nthe plan has no located nodes or fibre", transform=ax.transAxes,
                ha="center", va="center", fontsize=11, color="#555555")
        fig.set_size_inches(8, 4)
    if ctry is not None and len(ctry):
        ctry.to_crs(crs).plot(ax=ax, facecolor="#f7f5f0", edgecolor="#8c8c8c", linewidth=0.6, zorder=1)
        if limits is not None:  # plotting the outlines moved the limits
            ax.set_xlim(*limits[0])
            ax.set_ylim(*limits[1])

    legend = []
    if fibre:
        ax.add_collection(LineCollection(proj([c for c, _ in fibre]), colors=_FIBRE_COLOR, linewidths=0.9,
                                         zorder=2))
        legend.append(Line2D([], [], color=_FIBRE_COLOR, lw=0.9, label="fibre route"))
    if d.links:
        _png_links(fig, ax, d, proj, color_by, legend)
    if nodes:
        _png_nodes(ax, nodes, crs, label_sites, legend)
    _png_decorations(ax, d, legend, crs, bool(lonlat.size), ctry is not None)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight", dpi=dpi)
    return path


def _png_extent(fig, ax, lonlat: np.ndarray, crs):
    """Axes limits (projected) around everything located, with a margin, and a figure height to match;
    ``((x0, x1), (y0, y1))``, or None when nothing is located."""
    import geopandas as gpd

    if not lonlat.size:
        return None
    pts = gpd.GeoSeries(gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1]), crs="EPSG:4326").to_crs(crs)
    xs, ys = pts.x.to_numpy(), pts.y.to_numpy()
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    span = max(x1 - x0, y1 - y0, 20_000.0)
    pad = 0.08 * span
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = max(x1 - x0, 0.45 * span) / 2 + pad, max(y1 - y0, 0.45 * span) / 2 + pad
    limits = ((cx - hw, cx + hw), (cy - hh, cy + hh))
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    fig.set_size_inches(10, float(np.clip(10 * hh / hw, 5.5, 13)))
    return limits


def _png_links(fig, ax, d: Plan, proj, color_by: str, legend: list) -> None:
    """The QKD links, widest (most device pairs) first, coloured by ``color_by`` with a colour bar."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    links = d.links
    norm, cmap, clabel = _color_scale(d, color_by)
    order = sorted(range(len(links)), key=lambda i: -links[i].device_pairs)
    segs = proj([_link_coords(d, (links[i].from_node, links[i].to_node), links[i].fibre_path) for i in order])
    vals = np.array([max(float(getattr(links[i], color_by) or 0.0), 1e-300) for i in order])
    lc = LineCollection(segs, colors=cmap(norm(vals)), linewidths=[_width(links[i].device_pairs) for i in order],
                        capstyle="round", joinstyle="round", zorder=3)
    ax.add_collection(lc)
    sm = ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(sm, ax=ax, shrink=0.55, pad=0.02, fraction=0.04)
    cb.set_label(clabel)
    for p in sorted({L.device_pairs or 1 for L in links})[:4]:
        legend.append(Line2D([], [], color="#555555", lw=_width(p), label=f"{p} device pair{'s' if p != 1 else ''}"))


def _png_nodes(ax, nodes: list, crs, label_sites: bool, legend: list) -> None:
    """The plan's nodes, one marker per kind (sites on top), sites labelled when asked."""
    import geopandas as gpd
    import matplotlib.patheffects as pe
    from matplotlib.lines import Line2D

    npts = gpd.GeoSeries(gpd.points_from_xy([n.lon for n in nodes], [n.lat for n in nodes]),
                         crs="EPSG:4326").to_crs(crs)
    nx_, ny_ = npts.x.to_numpy(), npts.y.to_numpy()
    kinds = np.array([node_kind(n) for n in nodes])
    for k in _KIND_ORDER:
        m = kinds == k
        if not m.any():
            continue
        label, marker, color, size, _, _ = KIND_STYLE[k]
        ax.scatter(nx_[m], ny_[m], s=size, marker=marker, c=color, edgecolors="white", linewidths=0.9,
                   zorder=5 if k == "site" else 4)
        legend.append(Line2D([], [], ls="", marker=marker, color=color, markeredgecolor="white",
                             markersize=math.sqrt(size), label=f"{label} ({int(m.sum())})"))
    if label_sites:
        for n, x, y, k in zip(nodes, nx_, ny_, kinds):
            if k == "site":
                ax.annotate(n.id, (x, y), xytext=(6, 5), textcoords="offset points", fontsize=8.5,
                            color="#1a1a1a", zorder=6, path_effects=[pe.withStroke(linewidth=2.5, foreground="white")])


def _png_decorations(ax, d: Plan, legend: list, crs, located: bool, outlines: bool) -> None:
    """Title with the plan's summary, legend, scale bar and the projection's name."""
    sub = []
    if d.links:
        sub.append(f"{len(d.links)} QKD links, {sum(L.device_pairs for L in d.links)} device pairs")
    dem = d.demands
    if dem:
        met = sum(1 for x in dem if x.delivered_bps >= x.target_bps * (1 - 1e-6))
        sub.append(f"{met}/{len(dem)} demands met")
    if not d.has_plan:
        sub.append(f"no plan: {len(d.diagnosis)} diagnosis item(s), see report")
    ax.set_title(_title(d) + ("\n" + "; ".join(sub) if sub else ""), fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    if legend:
        ax.legend(handles=legend, loc="upper left", fontsize=8, framealpha=0.9)
    if located:
        _scale_bar(ax)
        crs_name = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else "LAEA centred on the plan"
        ax.text(0.995, 0.005, crs_name + ("; outlines: Natural Earth" if outlines else ""),
                transform=ax.transAxes, ha="right", va="bottom", fontsize=6.5, color="#555555", zorder=7)


def _scale_bar(ax) -> None:
    """A scale bar in km in the lower left (the axes are in metres)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5.0 / 1000.0
    mag = 10 ** math.floor(math.log10(target))
    km = max(s * mag for s in (1, 2, 5) if s * mag <= target) if target >= mag else mag
    bx, by = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    ax.plot([bx, bx + km * 1000], [by, by], color="black", lw=3, solid_capstyle="butt", zorder=7)
    ax.text(bx + km * 500, by + 0.012 * (y1 - y0), f"{km:g} km", ha="center", va="bottom", fontsize=8, zorder=7)


# ------------------------------------------------------------------------------------------------------
# interactive map
# ------------------------------------------------------------------------------------------------------
def _popup_table(title: str, rows: list) -> str:
    body = "".join(f"<tr><th style='text-align:left;padding-right:8px'>{_html.escape(str(k))}</th>"
                   f"<td style='text-align:right'>{_html.escape(str(v))}</td></tr>" for k, v in rows)
    return (f"<div class='qtopo-popup'><b>{_html.escape(title)}</b>"
            f"<table style='font-size:12px;border-collapse:collapse'>{body}</table></div>")


def _num(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def link_popup_rows(link: Link) -> list:
    """The (label, value) rows shown in a link's popup (also used by tests).

    Parameters
    ----------
    link : Link
        A plan link.

    Returns
    -------
    list of (str, str)
    """
    rows = [
        ("from - to", f"{link.from_node} - {link.to_node}"),
        ("device", f"{link.device} ({link.protocol})"),
        ("device pairs", str(link.device_pairs)
         + (f" ({link.existing_pairs} existing)" if link.existing_pairs else "")),
        ("length", f"{_num(link.length_km, '.2f')} km"),
        ("loss", f"{_num(link.loss_db, '.2f')} dB"),
        ("rate per pair", f"{_num(link.rate_bps_per_pair, ',.0f')} bit/s"),
        ("capacity", f"{_num(link.capacity_bps, ',.0f')} bit/s"),
        ("load", f"{_num(link.load_bps, ',.0f')} bit/s"),
        ("utilisation", f"{_num(link.utilisation, '.2%')}"),
        ("cost", f"{_num(link.cost_eur, ',.0f')} EUR"),
        ("fibre path", f"{len(link.fibre_path)} fibre nodes"),
    ]
    if link.relay:
        rows.insert(2, ("untrusted relay", str(link.relay)))
    return rows


def plan_map_folium(plan, network=None, *, tiles: str | None = None, color_by: str = "capacity_bps",
                    countries=None, demand_layers: int = 12):
    """An interactive Leaflet map of a plan (folium), with one toggleable layer per theme.

    Parameters
    ----------
    plan : qtopo.plan.Plan or dict
        The plan.
    network : qtopo.topology.FibreNetwork, optional
        Fibre network whose segments are drawn (see :func:`plan_map_png` for the fallbacks).
    tiles : str, optional
        Base tiles, e.g. ``"OpenStreetMap"`` (needs network access when viewed). None (default): no tiles,
        Natural Earth country outlines instead, so the map works offline.
    color_by : str
        Link metric for the colour, a key of :data:`COLOR_BY`; the legend shows the scale.
    countries : GeoDataFrame, path, False or None
        Country outlines, as in :func:`plan_map_png`.
    demand_layers : int
        With at most this many demands, each demand's routes get their own layer (``Demand: A - B``);
        with more, one layer ``Demand routes`` holds all. Demand layers are hidden at first.

    Returns
    -------
    folium.Map
        Layers (overlays, in order): ``Country outlines`` (without tiles), ``Fibre routes``, ``QKD links``,
        demand route layers, then nodes by kind (``Sites``, ``Trusted nodes``, ``Repeaters``, ``Relays``,
        those present). Popups give the plan's numbers. Save with :func:`save_map_html` for offline use.
    """
    import folium

    d = _data(plan)
    fibre = _fibre_lines(plan, network)
    nodes = _plan_nodes(plan, network)
    lonlat = _all_lonlat(plan, fibre, nodes)
    m = _folium_base(lonlat, tiles)
    if tiles is None:
        _folium_countries(m, countries, lonlat)
    _folium_fibre(m, fibre)
    if d.links:
        _folium_links(m, d, color_by)
    _folium_demands(m, d, demand_layers)
    _folium_nodes(m, d, nodes)  # on top
    m.get_root().html.add_child(folium.Element(
        f"<div class='qtopo-box' style='position:fixed;top:10px;left:60px;z-index:1000'>"
        f"<b>{_html.escape(_title(d))}</b></div>"))
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _folium_base(lonlat: np.ndarray, tiles):
    """The map, fitted to everything located (else centred on Europe), with qtopo's styles."""
    import folium

    if lonlat.size:
        sw = [float(lonlat[:, 1].min()), float(lonlat[:, 0].min())]
        ne = [float(lonlat[:, 1].max()), float(lonlat[:, 0].max())]
        center = [(sw[0] + ne[0]) / 2, (sw[1] + ne[1]) / 2]
    else:
        sw = ne = None
        center = [50.0, 10.0]
    m = folium.Map(location=center, zoom_start=7, tiles=tiles, control_scale=True)
    if sw is not None:
        m.fit_bounds([sw, ne], padding=(20, 20))
    m.get_root().header.add_child(folium.Element(
        "<style>.folium-map.leaflet-container{background:#eaf2f8}.qtopo-popup th{font-weight:600}"
        ".qtopo-box{background:rgba(255,255,255,.92);padding:6px 9px;border-radius:4px;"
        "box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px/1.35 sans-serif}</style>"))
    return m


def _folium_countries(m, countries, lonlat: np.ndarray) -> None:
    """Layer ``Country outlines`` (a map without tiles works offline)."""
    import folium
    import shapely

    ctry = _countries(countries, lonlat, margin_deg=6.0)
    if ctry is None or not len(ctry):
        return
    g = folium.FeatureGroup(name="Country outlines", show=True)
    ctry = ctry[["name", "geometry"]].copy()
    ctry["geometry"] = shapely.set_precision(ctry.geometry.values, 1e-3)  # display only: ~100 m
    folium.GeoJson(ctry.to_json(), name="countries",
                   style_function=lambda _: {"fillColor": "#f7f5f0", "fillOpacity": 1.0,
                                             "color": "#8c8c8c", "weight": 0.8},
                   tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False)).add_to(g)
    g.add_to(m)


def _folium_fibre(m, fibre: list) -> None:
    """Layer ``Fibre routes``, each segment with its length as tooltip."""
    import folium

    g = folium.FeatureGroup(name="Fibre routes", show=True)
    for line, attrs in fibre:
        tip = None
        if "length_km" in attrs and attrs["length_km"] is not None:
            tip = f"fibre {attrs.get('u')} - {attrs.get('v')}: {float(attrs['length_km']):.2f} km"
        folium.PolyLine([(la, lo) for lo, la in line], color=_FIBRE_COLOR, weight=2, opacity=0.9,
                        tooltip=tip).add_to(g)
    g.add_to(m)


def _folium_links(m, d: Plan, color_by: str) -> None:
    """Layer ``QKD links`` coloured by ``color_by`` (with its legend), popups with each link's numbers."""
    import folium
    from matplotlib.colors import to_hex

    norm, cmap, clabel = _color_scale(d, color_by)
    g = folium.FeatureGroup(name="QKD links", show=True)
    for L in sorted(d.links, key=lambda L: -L.device_pairs):
        v = max(float(getattr(L, color_by) or 0.0), 1e-300)
        folium.PolyLine([(la, lo) for lo, la in _link_coords(d, (L.from_node, L.to_node), L.fibre_path)],
                        color=to_hex(cmap(norm(v))),
                        weight=_width(L.device_pairs) * 1.4, opacity=0.95,
                        tooltip=f"{L.id}: {_fmt_bps(L.capacity_bps)}",
                        popup=folium.Popup(_popup_table(f"link {L.id}", link_popup_rows(L)),
                                           max_width=420)).add_to(g)
    g.add_to(m)
    m.get_root().html.add_child(folium.Element(_legend_html(norm, cmap, clabel)))


def _folium_demands(m, d: Plan, demand_layers: int) -> None:
    """Each demand's routes in a hidden layer ``Demand: A - B``; with more than ``demand_layers`` demands, all in
    one layer ``Demand routes``."""
    import folium

    demands = d.demands
    single = len(demands) > demand_layers
    if single:
        gall = folium.FeatureGroup(name="Demand routes", show=False)
    for i, dm in enumerate(demands):
        color = _DEMAND_COLORS[i % len(_DEMAND_COLORS)]
        g = gall if single else folium.FeatureGroup(name=f"Demand: {dm.source} - {dm.target}", show=False)
        for k, r in enumerate(dm.routes):
            pts = _route_coords(d, r.nodes)
            if len(pts) < 2:
                continue
            rows = [("route", f"{k + 1} of {len(dm.routes)}"), ("nodes", " - ".join(r.nodes)),
                    ("route rate", f"{r.rate_bps:,.0f} bit/s"),
                    ("delivered (all routes)", f"{dm.delivered_bps:,.0f} bit/s"),
                    ("target", f"{dm.target_bps:,.0f} bit/s"),
                    ("trusted nodes holding the key", ", ".join(dm.trusted_nodes))]
            folium.PolyLine([(la, lo) for lo, la in pts], color=color, weight=4, opacity=0.85, dash_array="8 6",
                            tooltip=f"{dm.source} - {dm.target}: {r.rate_bps:,.0f} bit/s",
                            popup=folium.Popup(_popup_table(f"demand {dm.source} - {dm.target}", rows),
                                               max_width=460)).add_to(g)
        if not single:
            g.add_to(m)
    if single:
        gall.add_to(m)


def _folium_nodes(m, d: Plan, nodes: list) -> None:
    """One layer per node kind (``Sites``, ``Trusted nodes``, ...), popups with cost, links, relayed key."""
    import folium

    groups = {}
    through = through_traffic_bps(d)
    placed = bool(d.nodes)  # else the network's sites, drawn for an infeasible plan: no cost, no links
    for n in nodes:
        k = node_kind(n)
        label, _, color, _, radius, layer = KIND_STYLE[k]
        if layer not in groups:
            groups[layer] = folium.FeatureGroup(name=layer, show=True)
        rows = [("kind", label), ("site kind", n.site_kind or "-"),
                ("lon, lat", f"{n.lon:.5f}, {n.lat:.5f}")]
        if placed:
            rows.append(("node cost", f"{n.cost_eur:,.0f} EUR"))
        if placed and k != "relay":
            rows.append(("QKD links", str(n.degree)))
        if n.existing:
            rows.append(("existing", "yes (brownfield)"))
        if n.id in through:
            rows.append(("key relayed for", f"{through[n.id]:,.0f} bit/s"))
        folium.CircleMarker([n.lat, n.lon], radius=radius, color="white", weight=1.5, fill=True,
                            fill_color=color, fill_opacity=1.0,
                            tooltip=folium.Tooltip(n.id, permanent=(k == "site"),
                                                   direction="right", offset=(6, 0)),
                            popup=folium.Popup(_popup_table(n.id, rows), max_width=360)).add_to(groups[layer])
    for layer in ["Sites", "Trusted nodes", "Repeaters", "Relays", "Other nodes"]:
        if layer in groups:
            groups[layer].add_to(m)


#: ``qtopo.explore(plan, network=...)``: the interactive map for notebooks (formerly ``Plan.explore()``).
explore = plan_map_folium


def through_traffic_bps(d: Plan) -> dict:
    """Key rate (bit/s) each node relays as an intermediate trusted node: the sum of the rates of the routes
    through it (the map colours nodes by it, the report lists it)."""
    out = {}
    for dm in d.demands:
        for r in dm.routes:
            for n in r.nodes[1:-1]:
                out[n] = out.get(n, 0.0) + r.rate_bps
    return out


def _legend_html(norm, cmap, label: str) -> str:
    from matplotlib.colors import LogNorm, to_hex

    stops = ",".join(to_hex(cmap(x)) for x in np.linspace(0, 1, 11))
    if isinstance(norm, LogNorm):
        ticks = [norm.vmin, math.sqrt(norm.vmin * norm.vmax), norm.vmax]
        tl = [_fmt_bps(t) for t in ticks]
    else:
        ticks = [norm.vmin, (norm.vmin + norm.vmax) / 2, norm.vmax]
        tl = [f"{t:.0%}" for t in ticks]
    return (f"<div class='qtopo-box qtopo-legend' style='position:fixed;bottom:28px;right:10px;z-index:1000;"
            f"width:230px'><div>{_html.escape(label)}{' (log scale)' if isinstance(norm, LogNorm) else ''}</div>"
            f"<div style='height:12px;margin:4px 0;background:linear-gradient(to right,{stops})'></div>"
            f"<div style='display:flex;justify-content:space-between'><span>{tl[0]}</span><span>{tl[1]}</span>"
            f"<span>{tl[2]}</span></div><div style='margin-top:3px;color:#555'>line width: device pairs</div></div>")


# ------------------------------------------------------------------------------------------------------
# offline HTML
# ------------------------------------------------------------------------------------------------------
_SCRIPT_RE = re.compile(r'<script\s+src="(https?:[^"]+)"\s*>\s*</script>', re.I)
_CSS_RE = re.compile(r'<link\s+rel="stylesheet"\s+href="(https?:[^"]+)"\s*/?>', re.I)


def _vendor_text(rel: str) -> str:
    return (VENDOR / rel).read_text(encoding="utf-8")


def _leaflet_css() -> str:
    css = _vendor_text("leaflet/leaflet.css")

    def data_uri(mo):
        f = VENDOR / "leaflet" / mo.group(1)
        return f"url(data:image/png;base64,{base64.b64encode(f.read_bytes()).decode('ascii')})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri, css)


def _inline_script(js: str) -> str:
    return "<script>\n" + js.replace("</script", "<\\/script") + "\n</script>"


def offline_html(html: str) -> str:
    """Replace the CDN references of a rendered folium page by inlined, vendored assets.

    Leaflet (JS and CSS, with its images as data URIs) and jQuery (used by folium popups) are inlined.
    Bootstrap, Font Awesome, glyphicons and Leaflet.awesome-markers, which folium links by default but which
    maps using only paths, circle markers and popups do not need, are removed. Any other remote script or
    stylesheet (a plugin's) is kept and logged as a warning: that page then needs the network.

    Parameters
    ----------
    html : str
        A page rendered by folium.

    Returns
    -------
    str
    """
    uses_awesome = "L.AwesomeMarkers" in html

    def js(mo):
        url = mo.group(1)
        name = url.rsplit("/", 1)[-1]
        if re.search(r"/leaflet@[\d.]+/dist/leaflet\.js$|/leaflet(\.min)?\.js$", url) and "leaflet." in name:
            return _inline_script(_vendor_text("leaflet/leaflet.js"))
        if re.search(r"jquery[-.\d]*(\.min)?\.js$", name):
            return _inline_script(_vendor_text("jquery/jquery.min.js"))
        if "bootstrap" in url or ("awesome-markers" in url and not uses_awesome):
            return ""
        log.warning("map.html keeps a remote script (needs the network): %s", url)
        return mo.group(0)

    def css(mo):
        url = mo.group(1)
        name = url.rsplit("/", 1)[-1]
        if name == "leaflet.css":
            return "<style>\n" + _leaflet_css() + "\n</style>"
        if ("bootstrap" in url or "fontawesome" in url or "glyphicons" in url
                or (("awesome-markers" in url or "awesome.rotate" in url) and not uses_awesome)):
            return ""
        log.warning("map.html keeps a remote stylesheet (needs the network): %s", url)
        return mo.group(0)

    html = _SCRIPT_RE.sub(js, html)
    return _CSS_RE.sub(css, html)


def write_text_atomic(path, text: str) -> Path:
    """Write text (UTF-8) via a temporary file in the same folder and :func:`os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def save_map_html(m, path) -> Path:
    """Save a folium map as one self-contained HTML file that works with no network.

    Parameters
    ----------
    m : folium.Map
        E.g. from :func:`plan_map_folium`.
    path : str or Path
        Output file.

    Returns
    -------
    Path

    Notes
    -----
    The Leaflet and jQuery sources are inlined from ``qtopo/templates/vendor`` (see :func:`offline_html`).
    Base tiles, if the map has any, still load from their server when the page is viewed.
    """
    return write_text_atomic(path, offline_html(m.get_root().render()))
