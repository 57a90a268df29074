"""The lab: what tests, the demo, chaos and the benches use to run relays on one machine.

Nothing here is on a production relay's path except :mod:`relay.lab.crashpoints`, whose hooks
do nothing unless the ``RELAY_CRASH_AT`` test variable names them. The Slack emulator
(:mod:`relay.lab.emulator`), the loopback network of agencies (:mod:`relay.lab.network`), the
fault proxy, the throwaway CA (:mod:`relay.lab.pki`), the one ``relay.yaml`` and key material
writer (:mod:`relay.lab.relayyaml`) and the policy corpus live here.
"""
