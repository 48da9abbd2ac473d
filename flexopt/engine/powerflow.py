"""Assess stage, AC power flow at scale: every (interval, bid point) of a feeder in one batch.

pandapower stays the network model: the feeder net is converted once into a
lightsim2grid grid model and solved with its ``InjectionSweepCPP`` (a C++ Newton-
Raphson over many independent injection sets, each started flat). lightsim2grid's
sweep can change sgen P but not sgen Q, and the LOPF changes DG reactive power, so
the batch model carries every sgen as a load of opposite sign (the same injection).
Branch currents, the exchange at the busbar and the sensitivity coefficients are
computed here from the admittance matrices pandapower builds for the same net
(``net._ppc``), so the result is pandapower's to the solver tolerance. The tests
compare it with ``pandapower.runpp`` on every run.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandapower as pp

#: Newton-Raphson settings of the batch: the tolerance is on the power mismatch in pu of 1 MVA.
MAX_ITERATIONS = 20
TOLERANCE_PU = 1e-9


def q_over_p(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Q/P of each element (0 where P is 0): bid points and chart dispatches keep each element's power factor."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(p) > 1e-12, q / np.where(np.abs(p) > 1e-12, p, 1.0), 0.0)


@dataclass(frozen=True)
class FlowResult:
    """AC results of a batch of power flows (rows: steps)."""

    v: np.ndarray  # (step, bus) complex pu, in the order of the net's buses
    converged: np.ndarray  # (step,) bool
    loading_percent: np.ndarray  # (step, branch): max over both ends
    p_pcc_mw: np.ndarray  # (step,) + import from the transmission grid
    q_pcc_mvar: np.ndarray

    @property
    def vm_pu(self) -> np.ndarray:
        return np.abs(self.v)

    def take(self, rows) -> FlowResult:
        """The results of some steps only (``rows``: an index or an array of them), still 2-D."""
        rows = np.atleast_1d(rows)
        return FlowResult(self.v[rows], self.converged[rows], self.loading_percent[rows], self.p_pcc_mw[rows],
                          self.q_pcc_mvar[rows])


def open_branch_switches(net: pp.pandapowerNet) -> None:
    """Take every line or transformer behind an open switch out of service, then drop the switches.

    pandapower keeps such a line energised from its closed end (its charging current flows);
    here it is disconnected, which the batch solver needs and which changes results by far
    less than the limits' tolerances on MV feeders.
    """
    if not len(net.switch):
        return
    opened = net.switch[~net.switch.closed]
    net.line.loc[opened.element[opened.et == "l"].unique(), "in_service"] = False
    net.trafo.loc[opened.element[opened.et == "t"].unique(), "in_service"] = False
    net.switch.drop(net.switch.index[net.switch.et != "b"], inplace=True)


def merge_parallel(net: pp.pandapowerNet) -> None:
    """Lines and transformers of ``parallel`` k > 1 as one element of k times the admittance and rating
    (lightsim2grid refuses them; the two are the same circuit for a power flow)."""
    lines = net.line.index[net.line.parallel.fillna(1).astype(int) != 1]
    if len(lines):
        k = net.line.loc[lines, "parallel"].astype(float)
        for column, factor in (("r_ohm_per_km", 1 / k), ("x_ohm_per_km", 1 / k), ("c_nf_per_km", k),
                               ("g_us_per_km", k), ("max_i_ka", k)):
            if column in net.line:
                net.line.loc[lines, column] = net.line.loc[lines, column] * factor
        net.line.loc[lines, "parallel"] = 1
    trafos = net.trafo.index[net.trafo.parallel.fillna(1).astype(int) != 1]
    if len(trafos):  # vk and vkr are per unit of the rating, so k times the rating is k times the admittance
        k = net.trafo.loc[trafos, "parallel"].astype(float)
        net.trafo.loc[trafos, "sn_mva"] = net.trafo.loc[trafos, "sn_mva"] * k
        net.trafo.loc[trafos, "pfe_kw"] = net.trafo.loc[trafos, "pfe_kw"] * k
        net.trafo.loc[trafos, "parallel"] = 1


class BatchPowerFlow:
    """A feeder net ready for batch AC power flows and for sensitivity coefficients."""

    def __init__(self, net: pp.pandapowerNet) -> None:
        from lightsim2grid.network import init_from_pandapower
        from lightsim2grid.injectionSweep import InjectionSweepCPP

        self.n_load = len(net.load)
        self.n_sgen = len(net.sgen)
        self.position_of_bus = {int(label): i for i, label in enumerate(net.bus.index)}
        model = copy.deepcopy(net)
        pp.toolbox.create_continuous_bus_index(model, start=0)  # labels 0..n-1 in the order of the old labels
        # the model's buses are the net's sorted by label; results keep the net's own order (a net read
        # from a file or cut out of a substation need not list its buses sorted)
        self._model_of_net = np.argsort(np.argsort(np.asarray(net.bus.index), kind="stable"), kind="stable")
        open_branch_switches(model)
        merge_parallel(model)
        # Out-of-service loads and sgens stay columns of the batch, with their injections zeroed.
        self.active = np.concatenate([net.load.in_service.to_numpy(bool), net.sgen.in_service.to_numpy(bool)])
        model.load["in_service"] = True
        if len(model.sgen):  # one vectorised call: creating them one by one is quadratic in the DER count
            pp.create_loads(model, model.sgen.bus.to_numpy(), p_mw=0.0, q_mvar=0.0,
                            name=[f"sgen {i}" for i in model.sgen.index])
        model.sgen.drop(model.sgen.index, inplace=True)
        element_bus = model.load.bus.to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(model, numba=False, init="flat", calculate_voltage_angles=True)
            self._grid = init_from_pandapower(model)
        self._sweep = InjectionSweepCPP(self._grid)
        self._n_gen = len(self._grid.get_generators())
        ppc = model._ppc
        lookup = model._pd2ppc_lookups["bus"]
        ppc_of_model_bus = np.asarray(lookup[np.asarray(model.bus.index)], dtype=int)
        self.ppc_of_bus = ppc_of_model_bus[self._model_of_net]  # in the net's order
        if len(set(self.ppc_of_bus)) != len(net.bus):
            raise ValueError("the batch power flow needs a net without fused buses (closed bus-bus switches)")
        internal = ppc["internal"]
        self.base_mva = float(ppc["baseMVA"])
        self.ybus = internal["Ybus"].toarray()  # in ppc bus order
        yf, yt = internal["Yf"].toarray(), internal["Yt"].toarray()
        branch = internal["branch"]
        base_kv = internal["bus"][:, 9].real
        f_bus = branch[:, 0].real.astype(int)
        t_bus = branch[:, 1].real.astype(int)
        names, max_f_ka, max_t_ka, rows = [], [], [], []
        branch_lookup = model._pd2ppc_lookups.get("branch", {})
        if "line" in branch_lookup:
            start, end = branch_lookup["line"]
            for k, (idx, line) in enumerate(model.line.iterrows()):
                if line.in_service:
                    rows.append(start + k)
                    names.append(str(line["name"]) if line["name"] is not None else f"line {idx}")
                    rated = line.max_i_ka * line.df * line.parallel
                    max_f_ka.append(rated)
                    max_t_ka.append(rated)
        n_lines = len(rows)
        if "trafo" in branch_lookup:
            start, end = branch_lookup["trafo"]
            for k, (idx, trafo) in enumerate(model.trafo.iterrows()):
                if trafo.in_service:
                    rows.append(start + k)
                    names.append(str(trafo["name"]) if trafo["name"] is not None else f"trafo {idx}")
                    # rated current on each side (pandapower: hv is the from end, lv the to end)
                    max_f_ka.append(trafo.sn_mva * trafo.parallel / (math.sqrt(3) * trafo.vn_hv_kv))
                    max_t_ka.append(trafo.sn_mva * trafo.parallel / (math.sqrt(3) * trafo.vn_lv_kv))
        # lookups index ppc["branch"]; the internal matrices keep only its in-service rows
        in_service = ppc["branch"][:, 10].real > 0
        internal_row = np.cumsum(in_service) - 1
        rows = internal_row[np.asarray(rows, dtype=int)]
        self.branch_names = tuple(names)
        self.branch_max_f_ka = np.asarray(max_f_ka, dtype=float)
        self.branch_max_t_ka = np.asarray(max_t_ka, dtype=float)
        self.is_trafo = np.arange(len(rows)) >= n_lines
        #: rated current of both ends of every branch, from ends then to ends (kA)
        self.rated_current_ka = np.concatenate([self.branch_max_f_ka, self.branch_max_t_ka])
        self.yf = yf[rows]
        self.yt = yt[rows]
        # kA per pu of current at each end: baseMVA / (sqrt(3) * base kV of the end's bus)
        self.i_base_f_ka = self.base_mva / (math.sqrt(3) * base_kv[f_bus[rows]])
        self.i_base_t_ka = self.base_mva / (math.sqrt(3) * base_kv[t_bus[rows]])
        slack_buses = np.flatnonzero(internal["bus"][:, 1].real == 3)
        self.slack_ppc = int(slack_buses[0])
        self.slack_v = complex(internal["V"][self.slack_ppc])
        self.v_init = np.ones((len(net.bus), 1), dtype=complex) * self.slack_v
        # Elements on the busbar itself draw from the transmission grid without crossing a branch.
        self.at_slack = ppc_of_model_bus[element_bus] == self.slack_ppc

    # -- batch ------------------------------------------------------------------------
    def solve(self, load_p_mw: np.ndarray, load_q_mvar: np.ndarray, sgen_p_mw: np.ndarray,
              sgen_q_mvar: np.ndarray) -> FlowResult:
        """AC power flow of every row (step) of the injection arrays; sgen in generator convention."""
        steps = load_p_mw.shape[0]
        p = np.ascontiguousarray(np.hstack([load_p_mw, -sgen_p_mw]) * self.active, dtype=float)
        q = np.ascontiguousarray(np.hstack([load_q_mvar, -sgen_q_mvar]) * self.active, dtype=float)
        gen_p = np.zeros((steps, self._n_gen))
        no_sgen = np.zeros((steps, 0))
        self._sweep.clear()  # a batch fixes its number of rows until cleared
        self._sweep.compute_Vs(gen_p, no_sgen, p, q, self.v_init, MAX_ITERATIONS, TOLERANCE_PU)
        v = np.asarray(self._sweep.get_voltages())[:, self._model_of_net]
        converged = np.isfinite(v).all(axis=1) & (np.abs(v).min(axis=1) > 0)
        v = np.where(converged[:, None], v, np.nan)
        return self.results(v, converged, p[:, self.at_slack].sum(axis=1), q[:, self.at_slack].sum(axis=1))

    def results(self, v: np.ndarray, converged: np.ndarray, p_at_busbar_mw: np.ndarray | float = 0.0,
                q_at_busbar_mvar: np.ndarray | float = 0.0) -> FlowResult:
        """Branch loading and busbar exchange from bus voltages (rows: steps; columns: the net's buses)."""
        v_ppc = self._to_ppc(v)
        i_f, i_t = self._end_currents_ka(v_ppc)
        loading = 100.0 * np.maximum(i_f / self.branch_max_f_ka, i_t / self.branch_max_t_ka)
        s_slack = v_ppc[:, self.slack_ppc] * np.conj(v_ppc @ self.ybus[self.slack_ppc]) * self.base_mva
        return FlowResult(v, converged, loading, s_slack.real + p_at_busbar_mw, s_slack.imag + q_at_busbar_mvar)

    def current_limits_ka(self, line_loading_percent: float, transformer_loading_percent: float) -> np.ndarray:
        """Highest current allowed at both ends of every branch (from ends, then to ends), kA."""
        share = np.where(self.is_trafo, transformer_loading_percent, line_loading_percent) / 100.0
        return self.rated_current_ka * np.concatenate([share, share])

    def loading_limits_percent(self, line_loading_percent: float, transformer_loading_percent: float) -> np.ndarray:
        """The loading limit of every branch: lines and in-feeder transformers have their own."""
        return np.where(self.is_trafo, transformer_loading_percent, line_loading_percent)

    # -- sensitivities ------------------------------------------------------------------
    def ds_dv(self, v_ppc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Derivatives of the complex bus injections by voltage magnitude and angle at ``v_ppc`` (dense:
        feeders have tens of buses). The formulas of pandapower's ``dSbus_dV`` (checked against it in
        tests/test_pq_area.py), without the sparse matrices that cost milliseconds per call here."""
        current = self.ybus @ v_ppc
        unit = v_ppc / np.abs(v_ppc)
        ds_dvm = v_ppc[:, None] * np.conj(self.ybus * unit[None, :])
        ds_dvm[np.diag_indices_from(ds_dvm)] += np.conj(current) * unit
        ds_dva = -1j * v_ppc[:, None] * np.conj(self.ybus * v_ppc[None, :])
        ds_dva[np.diag_indices_from(ds_dva)] += 1j * v_ppc * np.conj(current)
        return ds_dvm, ds_dva

    def sensitivities(self, v: np.ndarray, buses: np.ndarray, power: str = "reactive") -> tuple[np.ndarray, np.ndarray]:
        """First-order change of every bus voltage magnitude (pu) and branch current (kA, both ends)
        per Mvar (``power="reactive"``) or MW (``"active"``) injected at each of ``buses`` (the net's
        bus labels), from the AC Jacobian at the voltages ``v`` of one step.

        Returns (dvm (bus, injection), di (2 * branch, injection)); rows of di: from ends then to ends.
        """
        v_ppc = self._to_ppc(v)
        ds_dvm, ds_dva = self.ds_dv(v_ppc)
        n = len(v_ppc)
        pq = np.array([i for i in range(n) if i != self.slack_ppc])
        jac = np.block([[ds_dva[np.ix_(pq, pq)].real, ds_dvm[np.ix_(pq, pq)].real],
                        [ds_dva[np.ix_(pq, pq)].imag, ds_dvm[np.ix_(pq, pq)].imag]])
        position = {b: i for i, b in enumerate(pq)}
        rhs = np.zeros((2 * len(pq), len(buses)))
        offset = len(pq) if power == "reactive" else 0  # Q mismatch rows follow the P rows
        for j, bus in enumerate(buses):
            ppc_bus = self.ppc_of_bus[self.position_of_bus[int(bus)]]
            rhs[offset + position[ppc_bus], j] = 1.0 / self.base_mva  # 1 Mvar or 1 MW in pu
        dx = np.linalg.solve(jac, rhs)
        dva = np.zeros((n, len(buses)))
        dvm = np.zeros((n, len(buses)))
        dva[pq] = dx[: len(pq)]
        dvm[pq] = dx[len(pq):]
        dv = v_ppc[:, None] * (1j * dva + dvm / np.abs(v_ppc)[:, None])  # complex dV per Mvar
        rows = []
        for y, base in ((self.yf, self.i_base_f_ka), (self.yt, self.i_base_t_ka)):
            current = y @ v_ppc
            magnitude = np.abs(current)
            d_current = y @ dv
            with np.errstate(invalid="ignore", divide="ignore"):
                d_mag = np.where(magnitude[:, None] > 0,
                                 (np.conj(current)[:, None] * d_current).real / magnitude[:, None], 0.0)
            rows.append(d_mag * base[:, None])
        return dvm[self.ppc_of_bus], np.vstack(rows)

    def injection_sensitivities(self, v: np.ndarray, buses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First-order change per MW and per Mvar injected at each of ``buses`` (the net's bus labels),
        from one factorisation of the AC Jacobian at the voltages ``v`` of one step: of every bus
        voltage magnitude (pu), of the complex current at both ends of every branch (kA, from ends
        then to ends) and of the PCC exchange dS_pcc = V_s conj(Y_s,: dV) (MVA, load convention,
        + import). Columns: the P injections at ``buses``, then the Q injections. An injection at the
        busbar itself moves no voltage and the exchange by -1.

        Returns (dvm (bus, 2m), di (2 * branch, 2m) complex, ds_pcc (2m,) complex).
        """
        v_ppc = self._to_ppc(v)
        n, m = len(v_ppc), len(buses)
        ds_dvm, ds_dva = self.ds_dv(v_ppc)
        pq = np.flatnonzero(np.arange(n) != self.slack_ppc)
        ds_dvm, ds_dva = ds_dvm[np.ix_(pq, pq)], ds_dva[np.ix_(pq, pq)]
        jac = np.block([[ds_dva.real, ds_dvm.real], [ds_dva.imag, ds_dvm.imag]])
        position = np.full(n, -1)
        position[pq] = np.arange(len(pq))
        at = position[self.ppc_of_bus[[self.position_of_bus[int(b)] for b in buses]]]  # -1: the busbar
        rhs = np.zeros((2 * len(pq), 2 * m))
        inside = np.flatnonzero(at >= 0)
        rhs[at[inside], inside] = 1.0 / self.base_mva  # 1 MW in pu, in the P mismatch rows
        rhs[len(pq) + at[inside], m + inside] = 1.0 / self.base_mva  # 1 Mvar, in the Q rows
        dx = np.linalg.solve(jac, rhs)
        dva, dvm = np.zeros((n, 2 * m)), np.zeros((n, 2 * m))
        dva[pq], dvm[pq] = dx[: len(pq)], dx[len(pq):]
        dv = v_ppc[:, None] * (1j * dva + dvm / np.abs(v_ppc)[:, None])
        di = np.vstack([(self.yf @ dv) * self.i_base_f_ka[:, None], (self.yt @ dv) * self.i_base_t_ka[:, None]])
        ds_pcc = v_ppc[self.slack_ppc] * np.conj(self.ybus[self.slack_ppc] @ dv) * self.base_mva
        busbar = np.flatnonzero(at < 0)
        ds_pcc[busbar] -= 1.0
        ds_pcc[m + busbar] -= 1j
        return dvm[self.ppc_of_bus], di, ds_pcc

    def branch_currents_complex_ka(self, v: np.ndarray) -> np.ndarray:
        """Complex current at both ends of every branch for one step: (2 * branch,), kA."""
        v_ppc = self._to_ppc(v)
        return np.concatenate([(self.yf @ v_ppc) * self.i_base_f_ka, (self.yt @ v_ppc) * self.i_base_t_ka])

    def branch_currents_ka(self, v: np.ndarray) -> np.ndarray:
        """Current magnitude at both ends of every branch for one step: (2 * branch,)."""
        return np.concatenate(self._end_currents_ka(self._to_ppc(v)))

    def _to_ppc(self, v: np.ndarray) -> np.ndarray:
        """Bus voltages (one step, or rows of steps) in the order of pandapower's internal case."""
        v_ppc = np.empty_like(v)
        v_ppc[..., self.ppc_of_bus] = v
        return v_ppc

    def _end_currents_ka(self, v_ppc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Current magnitude at the from and at the to end of every branch, kA."""
        return np.abs(v_ppc @ self.yf.T) * self.i_base_f_ka, np.abs(v_ppc @ self.yt.T) * self.i_base_t_ka
