# flexopt scenario: the case study of Natale, Pilo, Pisano, Soma,
# "Quantitative Assessment of Flexibility at the TSO/DSO Interface Subject to
# the Distribution Grid Limitations", Appl. Sci. 2022, 12, 1858 (section 5).
#
# A 40 MVA primary substation in Sardinia with five feeders: R1, R2 (rural),
# D3 (dedicated to the largest PV and CHP plants), U4, U5 (urban, U5 passive).
# The feeder data of the paper are not public: this file rebuilds the network
# from the aggregates the paper publishes (see docs/case_study.md).

scenario "sardinia_ps" "40 MVA primary substation in Sardinia (Natale et al. 2022)"

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

# ---- cases -------------------------------------------------------------------
case A "only DG" { }

case B "DG + end-users" extends A {
  bids {
    enduser industrial  participation 25 %  down -5 % at 0.9 * buy  up +5 % at 1.1 * buy
  }
}

# ---- regulatory frameworks (docs/frameworks.md): case A under other rules -----
case A_q_free "only DG, reactive support free of charge" extends A {
  reactive { remuneration free }
}
case A_no_q "only DG, no reactive support from DG" extends A {
  reactive { unavailable }
}
case A_local_market "only DG, local market: reactive support and active-power redispatch" extends A {
  study { remedies reactive, redispatch }
}
