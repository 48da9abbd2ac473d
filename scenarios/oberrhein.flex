scenario "oberrhein" "pandapower's real MV grid mv_oberrhein: two HV/MV substations, 153 PV plants"

# The whole net is imported: its two substations (110/20 kV, 25 MVA each) become OB_1 and OB_2,
# their feeders are found where lines leave each MV busbar (the six open switches cut the rings),
# the 153 static generators of type "PV" become pv DERs with the pv profile below, and the 147
# loads become demand shaped by the mix, each peaking at its own value in the net.

calendar {
  year 2019
  holidays "DE"
  season winter months dec jan feb
  season spring months mar apr may
  season summer months jun jul aug
  season autumn months sep oct nov
  hours 24
}

profile pv          generated pv     { latitude 48.3 deg  longitude 7.8 deg  tilt 30 deg }
profile residential generated demand { class residential }
profile commercial  generated demand { class commercial }

price sell 60 EUR/MWh
price buy  70 EUR/MWh

substation OB from pandapower "mv_oberrhein" {
  busbar 1.02 pu
  mix residential 70 %  commercial 30 %
}

limits {
  voltage 0.90 .. 1.10 pu
  line loading 100 %
  transformer loading 100 %
}

bids {
  pv  down -100 % at 0   up +10 % derated at 2 * sell
}

reactive {
  remuneration 0.05 * buy per Mvarh
}

study {
  bid points 10 per direction
}

case A "PV only" { }
