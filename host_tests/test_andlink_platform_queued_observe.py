"""The simulator's Observe of a sleeping queue-mode device (binding UQ): the
operator's request waits for the device's next uplink ("queued"), and once
the device answers it, it is an observation like any other: its
notifications reach the platform (And-link 4.3.1; LwM2M TS 1.0 8.3, queue
mode).  andlink-term's client against andlink-platform, in-process."""

import time

from test_andlink_e2e import Rig, IMEI, run, wait_for


def test_queued_observe_becomes_an_observation(tmp_path):
    async def go():
        rig = await Rig(tmp_path, awake=2.0).start()    # the registration reads fit in it on a loaded machine
        try:
            t = await rig.device(queue=True)
            t.client.queue_window = 0.6
            d = await rig.ready(t)
            await wait_for(lambda: t.client.asleep, 4.0, "the client's sleep")
            await wait_for(lambda: time.time() > d.awake_until, 5.0, "the platform's awake window")
            r = await rig.op(op="observe", ep=IMEI, path="/3/0/9", timeout=0.3)
            assert r["ok"] and r.get("queued"), r
            t.command('send {"power":3}')                                        # the next uplink
            await wait_for(lambda: "/3/0/9" in d.observations, what="the observation, once answered")
            n = d.counts["notifications"]
            t.command("set /3/0/9 42")
            await wait_for(lambda: d.counts["notifications"] > n and d.values["/3/0/9"]["entry"].value == 42,
                           what="its notification, the new value at the platform")
        finally:
            await rig.close()
    run(go())
