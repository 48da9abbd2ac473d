"""Human summary of a validated scenario, printed by ``flexopt check``."""

from __future__ import annotations

import pandas as pd

from flexopt.language.expressions import render
from flexopt.model import Case, Offer, Scenario


def _noun(n: int, singular: str, plural: str | None = None) -> str:
    """``singular`` for exactly one, else ``plural`` (default: ``singular`` + "s")."""
    return singular if n == 1 else (plural or singular + "s")


def _count(n: int, singular: str, plural: str | None = None) -> str:
    """A count with its noun in the right number: ``1 season``, ``4 seasons``, ``0 seasons``."""
    return f"{n} {_noun(n, singular, plural)}"


def _offer_text(offer: Offer | None) -> tuple[str, str]:
    if offer is None:
        return "-", "-"
    sign = "-" if offer.direction == "down" else "+"
    quantity = f"{sign}{offer.quantity * 100:g} %" if offer.quantity_unit == "fraction" else f"{sign}{offer.quantity:g} MW"
    return quantity + (" derated" if offer.derated else ""), render(offer.price)


def feeders_table(scenario: Scenario) -> pd.DataFrame:
    rows = []
    for f in scenario.feeders:
        source = {"synthetic": "synthetic", "file": f"file {f.path.name if f.path else ''}",
                  "pandapower": f"pandapower {f.builder}", "substation": "from its substation's net"}[f.source]
        rows.append({
            "feeder": f.name,
            **({"substation": scenario.substation_of(f).name} if len(scenario.substations) > 1 else {}),
            "ambit": f.ambit or "-",
            "source": source,
            "length_km": f.length_km,
            "sections": f.sections,
            "conductor": f.conductor or "-",
            "demand_gwh_per_y": (f.demand_mwh_per_year or 0.0) / 1000.0,
            "mix": " ".join(f"{s.customer_class} {s.share * 100:g} %" for s in f.mix) or "-",
            **({"load_peak_mw": f.demand_peak_mw} if any(g.demand_peak_mw for g in scenario.feeders) else {}),
        })
    return pd.DataFrame(rows).set_index("feeder")


#: How ``flexopt check`` writes each feeder item a case may change, as the language writes it.
_FEEDER_ITEMS = {
    "length_km": lambda f: f"length {f.length_km:g} km",
    "sections": lambda f: f"sections {f.sections}",
    "laterals": lambda f: f"laterals {f.laterals}",
    "conductor": lambda f: f'conductor "{f.conductor}"',
    "demand_mwh_per_year": lambda f: f"demand {(f.demand_mwh_per_year or 0.0) / 1000:g} GWh/y",
    "mix": lambda f: "mix " + "  ".join(f"{s.customer_class} {s.share * 100:g} %" for s in f.mix),
    "load_power_factor": lambda f: f"power factor {f.load_power_factor:g}",
}


def feeder_changes_text(scenario: Scenario, case: Case) -> str | None:
    """The feeders the case sees otherwise than declared, with the items that differ; None if none."""
    changed = []
    for declared, own in zip(scenario.feeders, case.feeders):
        items = [show(own) for key, show in _FEEDER_ITEMS.items() if getattr(own, key) != getattr(declared, key)]
        if items:
            changed.append(f"{own.name} ({', '.join(items)})")
    return ", ".join(changed) or None


def der_capacity_table(case: Case, feeders: list[str]) -> pd.DataFrame:
    """Rated MW of DERs by kind (rows) and feeder (columns), with totals."""
    frame = pd.DataFrame([{"kind": d.kind, "feeder": d.feeder, "mw": d.rated_mw} for d in case.ders],
                         columns=["kind", "feeder", "mw"])
    table = frame.pivot_table(index="kind", columns="feeder", values="mw", aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=feeders, fill_value=0.0)
    table["total"] = table.sum(axis=1)
    if len(table):
        table.loc["total"] = table.sum(axis=0)
    return table


def bid_rules_table(case: Case) -> pd.DataFrame:
    rows = []
    for rule in case.bid_rules:
        down = _offer_text(rule.down if isinstance(rule.down, Offer) else None)
        up = _offer_text(rule.up if isinstance(rule.up, Offer) else None)
        rows.append({
            "applies to": rule.selector.label(),
            "participation": f"{rule.participation * 100:g} %" if rule.participation is not None else "-",
            "down quantity": down[0],
            "down price (EUR/MWh)": down[1],
            "up quantity": up[0],
            "up price (EUR/MWh)": up[1],
        })
    return pd.DataFrame(rows, columns=["applies to", "participation", "down quantity", "down price (EUR/MWh)",
                                       "up quantity", "up price (EUR/MWh)"])


def reactive_text(case: Case) -> str:
    r = case.reactive
    if r.mode == "paid":
        return f"paid at {render(r.price)} (EUR/Mvarh)"
    if r.mode == "free":
        return "provided free of charge"
    return "unavailable (no reactive support from DG)"


def format_summary(scenario: Scenario, file_label: str) -> str:
    """The text ``flexopt check`` prints for a valid scenario."""
    out = []
    cal = scenario.calendar
    title = f" — {scenario.title}" if scenario.title else ""
    out.append(f"{file_label}: OK  scenario '{scenario.name}'{title}")
    details = ([f"year {cal.year}"] if cal.year else []) + (
        [f"public holidays of {cal.holiday_country}"] if cal.holiday_country else [])
    details += [f"weather variable, seed {cal.weather_seed}"] if cal.weather == "variable" else []
    if cal.periods == "typical days":
        out.append(f"calendar: {_count(len(cal.seasons), 'season')} x {_count(len(cal.day_types), 'day type')} x "
                   f"{_count(cal.steps_per_day, 'step')} = {_count(cal.n_intervals, 'interval')}, "
                   f"{_count(cal.days_per_year, 'day')}" + (f" ({', '.join(details)})" if details else ""))
    else:  # the representative days are chosen when a case is compiled
        periods = "full year" if cal.periods == "full year" else (
            f"{_count(cal.representative_days, 'representative day')} and the extreme days of")
        out.append(f"calendar: periods {periods} {_count(cal.hours_per_year, 'hour')}"
                   + (f" ({', '.join(details)})" if details else ""))
    for sub in scenario.all_substations:
        t = sub.transformer
        origin = f" ({sub.transformer_name}, imported from its net)" if sub.source != "declared" else ""
        fed = sum(1 for f in scenario.feeders if scenario.substation_of(f) is sub)
        out.append(f"substation {sub.name}{origin}: {t.rated_mva:g} MVA {t.hv_kv:g}/{t.lv_kv:g} kV, "
                   f"vk {t.vk_percent:g} %, busbar {sub.busbar_pu:g} pu, {_count(fed, 'feeder')}")
    out.append("")
    out.append(_noun(len(scenario.feeders), "feeder") + ":")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        out.append(_indent(feeders_table(scenario).to_string(na_rep="-", float_format=lambda v: f"{v:g}")))
        for case in scenario.cases:
            out.append("")
            extends = f" (extends {case.extends})" if case.extends else ""
            title = f" \"{case.title}\"" if case.title else ""
            out.append(f"case {case.name}{title}{extends}")
            lim = case.limits
            out.append(f"  limits: voltage {lim.v_min_pu:g} .. {lim.v_max_pu:g} pu, line loading "
                       f"{lim.line_loading_percent:g} %, transformer loading {lim.transformer_loading_percent:g} %")
            changes = feeder_changes_text(scenario, case)
            if changes:
                out.append(f"  feeders overridden: {changes}")
            out.append(f"  reactive support: {reactive_text(case)}")
            st = case.study
            out.append(f"  study: {_count(st.bid_points_per_direction, 'bid point')} per direction, "
                       f"{st.activation} activation, remedies: {', '.join(st.remedies) or 'none'}"
                       + (f", P-Q chart in {st.pq_area_directions} directions" if st.pq_area_directions else ""))
            table = der_capacity_table(case, [f.name for f in scenario.feeders])
            if len(scenario.feeders) > 8:  # a region: one row per feeder reads better than a wide table
                table = table.T
            count = f" ({_count(len(case.ders), 'DER')})" if len(case.ders) > 20 else ""
            out.append(f"  DER rated power (MW) by kind and feeder{count}:")
            out.append(_indent(table.to_string(float_format=lambda v: f"{v:g}") if len(table) else "(no DERs)", 4))
            rules = bid_rules_table(case)
            out.append(f"  {_noun(len(rules), 'bid rule')}:")
            out.append(_indent(rules.to_string(index=False) if len(rules) else "(no bid rules)", 4))
    return "\n".join(out)


def _indent(text: str, n: int = 2) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())
