# flexopt scenario: how sensitive the case study's verdicts are to the calibration of R1.
#
# The paper publishes aggregates only (feeder kinds, DER ratings and energies, the substation's
# 81.4 GWh/y of demand), not R1's length, conductor, demand or DER positions. Each case below
# is a calibration consistent with those aggregates; docs/results.md shows Table 3 of R1 for
# every one, computed by `flexopt run scenarios/sardinia_calibrations.flex`.
# Everything above the cases is scenarios/sardinia_ps.flex unchanged (a test checks it).

scenario "sardinia_calibrations" "R1 of the Sardinian case study under calibrations consistent with the paper"

calendar {
  year 2019
  holidays "IT"                      # Italian public holidays count as holidays
  season winter months dec jan feb
  season spring months mar apr may
  season summer months jun jul aug
  season autumn months sep oct nov
  hours 24
}

# ---- profiles: shapes of demand and production over the typical days --------
profile pv          generated pv     { latitude 39.2 deg  longitude 9.1 deg  tilt 30 deg }
profile wind        generated wind   { site coastal }
profile chp         generated chp    { zone C }
profile residential generated demand { class residential }
profile commercial  generated demand { class commercial }
profile agricultural generated demand { class agricultural }
profile industrial  generated demand { class industrial }

# ---- prices (EUR/MWh): reconstruction of the paper's GME averages ------------
price sell csv "data/prices.csv" column "sell" EUR/MWh   # zonal selling price P_s
price buy  csv "data/prices.csv" column "buy"  EUR/MWh   # purchasing price (PUN) P_p
price fuel 85 EUR/MWh                                     # CHP fuel cost P(fuel)

# ---- substation and operating limits -----------------------------------------
substation PS {
  transformer 40 MVA 150/20 kV  short circuit voltage 12 %  copper losses 0.4 %
  busbar 1.02 pu                     # on-load tap changer setpoint
}

limits {
  voltage 0.90 .. 1.10 pu
  line loading 100 %
  transformer loading 100 %
}

# ---- feeders -----------------------------------------------------------------
feeder R1 rural {
  length 19 km  sections 19  laterals 4
  conductor "NA2XS2Y 1x150 RM/25 12/20 kV"
  demand 18.0 GWh/y
  mix residential 45 %  commercial 15 %  agricultural 25 %  industrial 15 %
}
feeder R2 rural {
  length 18 km  sections 18  laterals 3
  conductor "NA2XS2Y 1x185 RM/25 12/20 kV"
  demand 22.0 GWh/y
  mix residential 45 %  commercial 15 %  agricultural 25 %  industrial 15 %
}
feeder D3 dedicated {
  length 6 km  sections 6
  conductor "NA2XS2Y 1x240 RM/25 12/20 kV"
  demand 1.0 GWh/y
  mix industrial 100 %
}
feeder U4 urban {
  length 6 km  sections 12  laterals 3
  conductor "NA2XS2Y 1x240 RM/25 12/20 kV"
  demand 9.0 GWh/y
  mix residential 50 %  commercial 35 %  industrial 15 %
}
feeder U5 urban {                    # passive: no generation
  length 5 km  sections 10  laterals 2
  conductor "NA2XS2Y 1x240 RM/25 12/20 kV"
  demand 31.4 GWh/y
  mix residential 55 %  commercial 35 %  industrial 10 %
}

# ---- distributed generation (capability curves as in section 5) -------------
# Annual energies: the paper's totals (PV 35.03, wind 3.87, CHP 20.35 GWh/y) split by rating.
der PV_D3   pv    9.6 MW  at D3 end     capability semicircle  energy 12.934 GWh/y
der PV_R1   pv   16.4 MW  at R1 end     capability semicircle  energy 22.096 GWh/y
der WT_R1   wind  1.25 MW at R1 end     capability rectangular pf 0.95  energy 1.935 GWh/y
der WT_R2   wind  1.25 MW at R2 end     capability rectangular pf 0.95  energy 1.935 GWh/y
der CHP_D3  chp   2.7 MW  at D3 end     capability synchronous  energy 10.567 GWh/y
der CHP_R2  chp   1.3 MW  at R2 start   capability synchronous  energy 5.088 GWh/y
der CHP_U4  chp   1.2 MW  at U4 start   capability synchronous  energy 4.696 GWh/y

# ---- bid rules: the paper's Table 2 ------------------------------------------
bids {
  pv, wind   down -100 % at 0            up +10 % derated at 2 * sell
  chp        down -20 %  at 0.9 * buy    up +20 % at fuel
}

# ---- reactive support bought by the DSO: 5 % of the purchasing price ----------
reactive {
  remuneration 0.05 * buy per Mvarh
}

study {
  bid points 10 per direction
  activation merit order
  remedies reactive
}

# ---- cases: calibrations of R1 (and U5, to keep the substation's 81.4 GWh/y) --------------
case A "shipped: R1 19 km of 1x150 cable, 18 GWh/y, PV and wind at its end" { }

case CABLE_17KM "R1 17 km of 1x150 cable" extends A {
  feeder R1 { length 17 km  sections 17 }
}
case CABLE_24KM "R1 24 km of 1x150 cable" extends A {
  feeder R1 { length 24 km  sections 24 }
}
case CABLE_30KM "R1 30 km of 1x150 cable" extends A {
  feeder R1 { length 30 km  sections 30 }
}
case PV_MIDDLE "R1 24 km of cable, its PV half-way along the line" extends A {
  feeder R1 { length 24 km  sections 24 }
  der PV_R1 pv 16.4 MW at R1 middle  capability semicircle  energy 22.096 GWh/y
}
case OVERHEAD_16KM "R1 16 km of overhead line 34-AL1/6-ST1A, 18 GWh/y" extends A {
  feeder R1 { length 16 km  sections 16  conductor "34-AL1/6-ST1A 20.0" }
}
case OVERHEAD_16KM_35GWH "R1 16 km of overhead line carrying 35 GWh/y (U5 14.4 GWh/y)" extends A {
  feeder R1 { length 16 km  sections 16  conductor "34-AL1/6-ST1A 20.0"  demand 35 GWh/y }
  feeder U5 { demand 14.4 GWh/y }
}
case OVERHEAD_12KM_35GWH "R1 12 km of overhead line carrying 35 GWh/y (U5 14.4 GWh/y)" extends A {
  feeder R1 { length 12 km  sections 12  conductor "34-AL1/6-ST1A 20.0"  demand 35 GWh/y }
  feeder U5 { demand 14.4 GWh/y }
}
