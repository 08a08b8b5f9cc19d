"""SIM interface (wmmp.terminal.simcard), the simulated SIM's PIN1/PUK1 counters, and the SIM
PIN1 boot guard, binding and platform PIN operations (wmmp.terminal.simguard): section
4.4.1 of the standard (4.4.1.1 boot, 4.4.1.2 platform settings, 4.4.1.3 SIM swap),
appendix B 6, appendix E g E001-E01B, appendix E e 0x300D.  Portable."""
from wmmp.terminal import simcard as S, simguard as G, simrecord as R, params as PM
from wmmp.board import store as ST
from wmmp.crypto import md5
from wmmp.wire import codes as K
from wmmp.errors import WmmpError, BadValue, Unsupported
from ramfs import RamFS

IMSI = "460001234567890"
IMSI2 = "460009876543210"
ICCID = "89860012345678901234"
ICCID2 = "89860098765432109876"
IMEI = "860000000000001"
PIN = "2468"          # appears in no identity above, so a leak is visible
NEW = "97531"
PUK = "11223344"
SERIAL = b"TERM000000000042"


class Mem:
    """load()/save() storage with an audit() that keeps details unredacted, so
    the tests see exactly what the guard hands to the store."""

    def __init__(self, data=None):
        self.data = dict(data) if data else None
        self.saves = 0
        self.log = []

    def load(self):
        return dict(self.data) if self.data is not None else None

    def save(self, d):
        self.data = dict(d)
        self.saves += 1

    def audit(self, event, detail=None):
        self.log.append((event, detail))


class PowerCut(Exception):
    """Not a WmmpError: nothing in the guard may catch it (the power is gone)."""


class CutSim:
    """A SimulatedSim whose next call of `method` loses power "before" the card
    sees it or "after" the card handled it (its answer never arrives)."""

    def __init__(self, sim, method, when):
        self.sim = sim
        self.method = method
        self.when = when
        self.store_seen = None
        self.store = None

    def __getattr__(self, name):
        f = getattr(self.sim, name)
        if name != self.method or self.when is None:
            return f

        def cut(*args):
            when = self.when
            self.when = None
            if self.store is not None:
                self.store_seen = self.store.load()
            if when == "after":
                try:
                    f(*args)
                except S.SimError:
                    pass
            raise PowerCut()
        return cut


def _sim(pin=PIN, **kw):
    return S.SimulatedSim(IMSI, ICCID, IMEI, pin=pin, puk=PUK, **kw)


def _store(pin=PIN):
    return Mem({R.KEY_PIN: pin.encode()})


def _flash(fs=None):
    return ST.FlashStorage(fs or RamFS(), "/state")


def _raises(exc, f, *args):
    try:
        f(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def _wrong(pin):
    return "0000" if pin != "0000" else "1111"


# -- the simulated SIM (3GPP TS 31.101 / 51.011 counters; MODEMS.md PIN rows) ----

def test_sim_three_wrong_pins_need_puk():
    # 4.4.1.1: the card "refuses the terminal" on a wrong PIN1 and locks after 3
    sim = _sim()
    assert sim.pin_state() == S.SIM_PIN and sim.attempts() == (3, 10)
    for left in (2, 1, 0):
        e = _raises(S.WrongPin, sim.enter_pin, "1111")
        assert e.left == left and sim.attempts() == (left, 10)
    assert sim.pin_state() == S.SIM_PUK
    # the right PIN no longer helps and costs nothing
    _raises(S.PukRequired, sim.enter_pin, PIN)
    assert sim.attempts() == (0, 10) and sim.pin_commands == 3


def test_sim_correct_pin_resets_counter():
    sim = _sim()
    _raises(S.WrongPin, sim.enter_pin, "1111")
    _raises(S.WrongPin, sim.enter_pin, "1111")
    assert sim.attempts() == (1, 10)
    sim.enter_pin(PIN)
    assert sim.attempts() == (3, 10) and sim.pin_state() == S.READY
    assert sim.imsi() == IMSI and sim.iccid() == ICCID and sim.imei() == IMEI
    sim.power_cycle()                     # counters live on the card
    assert sim.pin_state() == S.SIM_PIN and sim.attempts() == (3, 10)


def test_sim_ten_wrong_puks_block():
    sim = _sim()
    for _ in range(3):
        _raises(S.WrongPin, sim.enter_pin, "1111")
    for left in range(9, -1, -1):
        e = _raises(S.WrongPuk, sim.enter_puk, "99999999", "4321")
        assert e.left == left
    assert sim.pin_state() == S.BLOCKED and sim.attempts() == (0, 0)
    _raises(S.SimBlocked, sim.enter_puk, PUK, "4321")
    _raises(S.SimBlocked, sim.enter_pin, PIN)


def test_sim_puk_and_new_pin_reset_both():
    sim = _sim(pin_enabled=False)
    for _ in range(3):
        _raises(S.WrongPin, sim.set_pin_enabled, True, "1111")
    assert sim.pin_state() == S.SIM_PUK
    _raises(S.WrongPuk, sim.enter_puk, "99999999", "4321")
    assert sim.attempts() == (0, 9)
    sim.enter_puk(PUK, "4321")
    assert sim.attempts() == (3, 10) and sim.pin_state() == S.READY and sim.pin_enabled()
    sim.power_cycle()
    _raises(S.WrongPin, sim.enter_pin, PIN)        # the old PIN is gone
    sim.enter_pin("4321")
    assert sim.attempts() == (3, 10)


def test_sim_pin_format():
    # PROTOCOL.md 8 / appendix E g E001: PIN 4-8 digits; PUK 8 digits; bad format costs nothing
    sim = _sim()
    for bad in ("123", "123456789", "12a4", "", b"12 4", "１２３４"):
        _raises(BadValue, sim.enter_pin, bad)
    for bad in ("1234567", "123456789", "1234567x"):
        _raises(BadValue, sim.enter_puk, bad, "1234")
    _raises(BadValue, S.SimulatedSim, IMSI, ICCID, IMEI, "12")
    _raises(BadValue, S.SimulatedSim, IMSI, ICCID, IMEI, PIN, "123")
    _raises(BadValue, S.SimulatedSim, "46000", ICCID, IMEI)
    assert sim.attempts() == (3, 10) and sim.pin_commands == 0
    assert S.check_pin(b"12345678") == b"12345678" and S.check_pin("0000") == b"0000"
    # E001 TLV form: an 8-byte value right-padded with 0x00 or 'F'
    assert S.pin_from_tlv(b"1234\x00\x00\x00\x00") == b"1234"
    assert S.pin_from_tlv(b"123456FF") == b"123456"
    assert S.pin_from_tlv(b"12345678") == b"12345678"
    _raises(BadValue, S.pin_from_tlv, b"12\x00\x00\x00\x00\x00\x00")
    e = _raises(BadValue, S.pin_from_tlv, b"12x4")
    assert e.tag == 0xE001


def test_sim_state_refusals_cost_nothing():
    sim = _sim(pin_enabled=False)
    assert sim.pin_state() == S.READY
    _raises(S.SimError, sim.enter_pin, PIN)                 # nothing asked for
    _raises(S.SimError, sim.change_pin, PIN, "4321")        # PIN1 disabled
    _raises(S.SimError, sim.set_pin_enabled, False, PIN)    # already off
    assert sim.attempts() == (3, 10) and sim.pin_commands == 0
    sim.set_pin_enabled(True, PIN)
    sim.power_cycle()
    _raises(S.PinRequired, sim.imsi)
    _raises(S.PinRequired, sim.change_pin, PIN, "4321")
    assert sim.iccid() == ICCID                             # readable without PIN
    sim.swap(IMSI2, ICCID2, pin="5555")                     # 4.4.1.3: another card
    assert sim.attempts() == (3, 10) and sim.iccid() == ICCID2
    sim.enter_pin("5555")
    assert sim.imsi() == IMSI2
    sim.remove()
    assert sim.pin_state() == S.NO_SIM
    _raises(S.NoSim, sim.attempts)
    _raises(S.NoSim, sim.enter_pin, PIN)


# -- boot guard (4.4.1.1) -------------------------------------------------------

def test_guard_boot_enters_stored_pin():
    sim, st = _sim(), _store()
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.WORKING and r.ok and not r.technician and r.alarm is None
    assert r.imsi == IMSI and r.imei == IMEI
    assert sim.pin_state() == S.READY and sim.pin_commands == 1
    assert G.pin1_errors(st) == (3, 0)
    assert ("sim_pin_ok", "PIN1 accepted") in st.log


def test_guard_never_sends_pin_with_one_attempt_left():
    # 4.4.1.1 step 1: stop before the PIN could lock the card
    sim, st = _sim(), _store()
    _raises(S.WrongPin, sim.enter_pin, "1111")
    _raises(S.WrongPin, sim.enter_pin, "1111")
    sent = sim.pin_commands
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.ALARM and r.technician and not r.ok
    assert r.alarm == K.ALARM_SELF_TEST_FAULT and r.alarm_type == K.ALARM_TYPE_HARDWARE
    assert "1 PIN1 attempt" in r.reason and "technician needed" in r.summary()
    assert sim.pin_commands == sent and sim.attempts() == (1, 10)
    assert st.log[-1][0] == "sim_alarm"


def test_guard_wrong_stored_pin_stops_and_is_never_resent():
    # 4.4.1.1: a refused PIN stops the boot with a local alarm and is counted
    sim, st = _sim(), _store(pin="1357")
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.ALARM and "refused" in r.reason and sim.attempts() == (2, 10)
    assert G.pin1_errors(st) == (3, 1)
    for _ in range(3):                        # later boots: nothing is sent again
        sim.power_cycle()
        r = G.SimGuard(sim, Mem(st.data)).boot()
        assert r.state == G.ALARM and r.alarm == K.ALARM_SELF_TEST_FAULT
    assert sim.pin_commands == 1 and sim.attempts() == (2, 10)


def test_guard_counts_before_sending():
    # the error count is on flash before the card sees the PIN (4.4.1.1, issue 4)
    st = _store()
    cs = CutSim(_sim(), "enter_pin", "before")
    cs.store = st
    try:
        G.SimGuard(cs, st).boot()
        raise AssertionError("no power cut")
    except PowerCut:
        pass
    seen = G.pin1_errors(Mem(cs.store_seen))
    assert seen == (3, 1)


def test_guard_power_cut_before_card_then_reboot():
    fs = RamFS()
    st = _flash(fs)
    st.save({R.KEY_PIN: PIN.encode()})
    sim = _sim()
    try:
        G.SimGuard(CutSim(sim, "enter_pin", "before"), st).boot()
        raise AssertionError("no power cut")
    except PowerCut:
        pass
    st2 = _flash(fs)                                 # reboot: a new store over the flash
    assert G.pin1_errors(st2) == (3, 1)              # the cut attempt was counted
    sim.power_cycle()
    r = G.SimGuard(sim, st2).boot()                  # the card's counter did not drop
    assert r.state == G.WORKING and sim.pin_commands == 1
    assert G.pin1_errors(_flash(fs)) == (3, 0)       # cleared after success


def test_guard_power_cut_after_card_refused():
    fs = RamFS()
    st = _flash(fs)
    st.save({R.KEY_PIN: b"1357"})                    # not the card's PIN
    sim = _sim()
    try:
        G.SimGuard(CutSim(sim, "enter_pin", "after"), st).boot()
        raise AssertionError("no power cut")
    except PowerCut:
        pass
    assert sim.attempts() == (2, 10)
    sim.power_cycle()
    r = G.SimGuard(sim, _flash(fs)).boot()            # counter dropped: known wrong
    assert r.state == G.ALARM and "refused" in r.reason
    assert sim.pin_commands == 1 and sim.attempts() == (2, 10)


def test_guard_power_cut_loop_reaches_error_limit():
    # E018: the stored count has a limit; three interrupted attempts reach it
    st = _store()
    sim = _sim()
    for _ in range(3):
        try:
            G.SimGuard(CutSim(sim, "enter_pin", "before"), st).boot()
        except PowerCut:
            pass
        sim.power_cycle()
    assert G.pin1_errors(st) == (3, 3)
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.ALARM and "limit" in r.reason and sim.pin_commands == 0


def test_guard_card_states_alarm():
    st = _store()
    sim = _sim()
    for _ in range(3):
        _raises(S.WrongPin, sim.enter_pin, "1111")
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.ALARM and "PUK1" in r.reason
    for _ in range(10):
        _raises(S.WrongPuk, sim.enter_puk, "99999999", "1111")
    assert "blocked" in G.SimGuard(sim, st).boot().reason
    sim.remove()
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.ALARM and r.reason == "no SIM card" and r.alarm == K.ALARM_SELF_TEST_FAULT


def test_guard_no_stored_pin_and_disabled_pin():
    sim = _sim()
    r = G.SimGuard(sim, Mem()).boot()
    assert r.state == G.ALARM and "none is stored" in r.reason and sim.pin_commands == 0
    sim = _sim(pin_enabled=False)                    # no PIN1 check: nothing sent
    r = G.SimGuard(sim, Mem()).boot()
    assert r.state == G.WORKING and sim.pin_commands == 0


def test_guard_damaged_record_is_memory_alarm():
    # appendix E e 0x0011: a record that cannot be trusted stops before any PIN
    sim = _sim()
    st = Mem({R.KEY_PIN: PIN.encode(), R.KEY: b"\x01\x02"})
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.ALARM and r.alarm == K.ALARM_MEMORY_ERROR and sim.pin_commands == 0


# -- binding and SIM swap (4.4.1.3, appendix E g E00D) -------------------------

def test_binding_foreign_sim_alarm():
    sim, st = _sim(), _store()
    assert G.bind(st, IMSI, IMEI)
    assert G.SimGuard(sim, st).boot().state == G.WORKING
    sim.swap(IMSI2, ICCID2, pin=PIN)
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.ALARM and "foreign SIM" in r.reason and r.alarm == K.ALARM_SELF_TEST_FAULT
    assert r.imsi == IMSI2


def test_binding_other_module_alarm():
    sim, st = _sim(), _store()
    G.bind(st, IMSI, "860000000000099")
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.ALARM and "IMEI" in r.reason


def test_unbound_imsi_change_registers_op_0x02():
    # 4.4.1.3.2 / 4.3.1.2: no binding, new SIM -> REGISTER operation 0x02
    sim = _sim()
    st = Mem({R.KEY_PIN: PIN.encode(), R.KEY_REGISTERED_IMSI: IMSI.encode()})
    assert G.SimGuard(sim, st).boot().state == G.WORKING
    sim.swap(IMSI2, ICCID2, pin=PIN)
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.CHANGE_MAPPING and r.ok and r.register_op == K.REG_OP_CHANGE_MAPPING == 0x02
    assert r.old_imsi == IMSI and r.imsi == IMSI2 and "register op 0x02" in r.summary()


def test_unbind_then_swap_registers_op_0x02():
    sim = _sim()
    st = Mem({R.KEY_PIN: PIN.encode(), R.KEY_REGISTERED_IMSI: IMSI.encode()})
    G.bind(st, IMSI, IMEI)
    assert G.unbind(st)
    sim.swap(IMSI2, ICCID2, pin=PIN)
    assert G.SimGuard(sim, st).boot().state == G.CHANGE_MAPPING


def test_bind_rejects_bad_identities():
    st = Mem()
    _raises(BadValue, G.bind, st, "46000123", IMEI)
    _raises(BadValue, G.bind, st, IMSI, "86000000000000x")
    assert st.data is None


# -- platform PIN operations (4.4.1.2, appendix B 6, E001/E003/E00D) ------------

def test_enable_pin_verifies_old_pin_first():
    sim = _sim(pin_enabled=False)
    st = _store(pin="1357")                          # stored PIN is not the card's
    _raises(S.WrongPin, G.enable_pin, sim, st, None, True)
    assert not sim.pin_enabled() and sim.attempts() == (2, 10)
    _raises(R.WouldLock, G.enable_pin, sim, st, None, True)   # known wrong: not resent
    assert sim.pin_commands == 1
    assert G.enable_pin(sim, st, PIN, True)          # the right one, given explicitly
    assert sim.pin_enabled() and sim.attempts() == (3, 10)
    assert st.data[R.KEY_PIN] == PIN.encode()        # verified: now stored
    assert G.enable_pin(sim, st, None, False) and not sim.pin_enabled()


def test_change_pin_verifies_old_pin_first():
    sim, st = _sim(), _store(pin="1357")
    G.SimGuard(sim, _store()).boot()                 # card unlocked
    _raises(S.WrongPin, G.change_pin, sim, st, None, NEW)
    assert st.data[R.KEY_PIN] == b"1357" and R.KEY_NEXT not in st.data
    sim.power_cycle()
    sim.enter_pin(PIN)                               # card kept its PIN
    st = _store()
    assert G.change_pin(sim, st, None, NEW)
    assert st.data[R.KEY_PIN] == NEW.encode() and R.KEY_NEXT not in st.data
    sim.power_cycle()
    assert G.SimGuard(sim, st).boot().state == G.WORKING
    _raises(BadValue, G.change_pin, sim, st, None, "12")


def test_change_pin_while_disabled_keeps_it_disabled():
    sim, st = _sim(pin_enabled=False), _store()
    assert G.change_pin(sim, st, None, NEW)
    assert not sim.pin_enabled() and st.data[R.KEY_PIN] == NEW.encode()
    sim.set_pin_enabled(True, NEW)                   # the card holds the new PIN


def test_change_pin_power_cut_after_card_changed():
    sim, st = _sim(pin_enabled=True), _store()
    G.SimGuard(sim, st).boot()
    try:
        G.change_pin(CutSim(sim, "change_pin", "after"), st, None, NEW)
    except PowerCut:
        pass
    assert st.data[R.KEY_PIN] == PIN.encode() and st.data[R.KEY_NEXT] == NEW.encode()
    sim.power_cycle()
    r = G.SimGuard(sim, st).boot()                   # old refused, new accepted
    assert r.state == G.WORKING and st.data[R.KEY_PIN] == NEW.encode()
    assert R.KEY_NEXT not in st.data and sim.attempts() == (3, 10)


def test_change_pin_power_cut_before_card():
    sim, st = _sim(), _store()
    G.SimGuard(sim, st).boot()
    try:
        G.change_pin(CutSim(sim, "change_pin", "before"), st, None, NEW)
    except PowerCut:
        pass
    sim.power_cycle()
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.WORKING and st.data[R.KEY_PIN] == PIN.encode()
    assert R.KEY_NEXT not in st.data and sim.pin_commands == 2


def test_pin_operations_refuse_with_one_attempt_left():
    sim, st = _sim(), _store()
    G.SimGuard(sim, st).boot()
    _raises(S.WrongPin, sim.change_pin, "1111", "2222")
    _raises(S.WrongPin, sim.change_pin, "1111", "2222")
    sent = sim.pin_commands
    _raises(R.WouldLock, G.change_pin, sim, st, None, NEW)
    _raises(R.WouldLock, G.enable_pin, sim, st, None, False)
    assert sim.pin_commands == sent and sim.attempts() == (1, 10)
    assert st.data[R.KEY_PIN] == PIN.encode() and R.KEY_NEXT not in st.data


def test_operations_need_a_ready_card():
    sim, st = _sim(), _store()
    _raises(S.PinRequired, G.enable_pin, sim, st, None, False)
    _raises(R.NoStoredPin, G.change_pin, _sim(pin_enabled=False), Mem(), None, NEW)
    assert sim.pin_commands == 0


def test_apply_pin1_tlv_forms():
    # appendix B 6 (3): E001 + E003 on a card with the factory default PIN, disabled
    sim, st = _sim(pin_enabled=False), _store()
    assert G.apply_pin1(sim, st, b"97531\x00\x00\x00", b"\x01")
    assert sim.pin_enabled() and st.data[R.KEY_PIN] == NEW.encode()
    assert G.apply_pin1(sim, st, enable=0) and not sim.pin_enabled()      # (6)
    _raises(BadValue, G.apply_pin1, sim, st, None, b"\x02")
    _raises(BadValue, G.apply_pin1, sim, st, None, b"")
    _raises(BadValue, G.apply_pin1, sim, st, None, b"\x01\x00")
    _raises(BadValue, G.apply_pin1, sim, st, b"12", None)
    _raises(BadValue, G.apply_pin1, sim, st)


def test_clear_unbinds_and_disables_pin():
    # appendix E g E00D 0x02: unbind first, then clear the PIN if set
    sim = _sim()
    st = Mem({R.KEY_PIN: PIN.encode(), R.KEY_REGISTERED_IMSI: IMSI.encode()})
    G.bind(st, IMSI, IMEI)
    G.SimGuard(sim, st).boot()
    assert G.clear(sim, st)
    assert not sim.pin_enabled() and G.read_tlvs(sim, st, SERIAL, [0xE00D]) == [(0xE00D, b"\x00")]
    sim.swap(IMSI2, ICCID2, pin_enabled=False)
    r = G.SimGuard(sim, st).boot()
    assert r.state == G.CHANGE_MAPPING
    events = [e for e, _ in st.log]
    assert "sim_unbind" in events and "sim_clear" in events


def test_unblock_with_puk():
    # 4.4.1.4 case 3: a technician unlocks a card that asks for PUK1
    sim, st = _sim(), _store()
    for _ in range(3):
        _raises(S.WrongPin, sim.enter_pin, "1111")
    _raises(BadValue, G.unblock, sim, st, "123", NEW)
    _raises(S.WrongPuk, G.unblock, sim, st, "99999999", NEW)
    assert G.unblock(sim, st, PUK, NEW)
    assert st.data[R.KEY_PIN] == NEW.encode() and sim.attempts() == (3, 10)
    sim.power_cycle()
    assert G.SimGuard(sim, st).boot().state == G.WORKING
    sim.power_cycle()
    for _ in range(3):
        _raises(S.WrongPin, sim.enter_pin, "1111")
    for _ in range(9):
        _raises(S.WrongPuk, sim.enter_puk, "99999999", "1111")
    _raises(R.WouldLock, G.unblock, sim, st, PUK, NEW)   # last PUK attempt kept
    assert sim.attempts() == (0, 1)


# -- reads for SECURITY_CONFIG operation 0x02 (appendix E g E002/E016, PROTOCOL.md 8) --

def _md5(*parts):
    h = md5.new()
    for p in parts:
        h.update(p)
    return h.digest()


def test_read_tlvs_digests():
    sim, st = _sim(), _store()
    G.SimGuard(sim, st).boot()
    G.bind(st, IMSI, IMEI)
    out = dict(G.read_tlvs(sim, st, SERIAL, [0xE002, 0xE003, 0xE00D, 0xE016, 0xE018]))
    # E002 = MD5(serial 16 || IMEI 15 digits + 0x00 || IMSI 15 || PIN digits)
    idf = IMEI.encode() + b"\x00"
    assert out[0xE002] == _md5(SERIAL, idf, IMSI.encode(), PIN.encode())
    assert out[0xE002] == G.pin_digest(SERIAL, IMEI, IMSI, PIN)
    assert out[0xE016] == _md5(SERIAL, idf, IMSI.encode())
    assert out[0xE003] == b"\x01" and out[0xE00D] == b"\x01" and out[0xE018] == b"\x03\x00"
    _raises(Unsupported, G.read_tlvs, sim, st, SERIAL, [0xE025])
    _raises(Unsupported, G.read_tlvs, sim, Mem(), SERIAL, [0xE002])
    assert G.stored_pin1(st) == PIN.encode() and G.stored_pin1(Mem()) is None


# -- secrets (issue 4: never in repr, audit or messages) ------------------------

def test_no_pin_in_repr_audit_or_errors():
    fs = RamFS()
    fst = _flash(fs)
    fst.save({R.KEY_PIN: b"1357"})
    sim = _sim()
    texts = [repr(sim), str(sim)]
    r = G.SimGuard(sim, fst).boot()                 # wrong stored PIN: refused
    texts += [repr(r), r.summary(), repr(G.SimGuard(sim, fst)), repr(fst)]
    e = _raises(S.WrongPin, sim.enter_pin, "9753")
    texts.append(str(e))
    e = _raises(BadValue, sim.enter_pin, "97x3")
    texts.append(str(e))
    ms = _store()
    sim2 = _sim()
    G.SimGuard(sim2, ms).boot()
    G.change_pin(sim2, ms, None, NEW)
    G.apply_pin1(sim2, ms, enable=b"\x00")
    texts += ["%s %s" % (ev, ST.redact(d)) for ev, d in ms.log]
    texts += ["%s %s" % (ev, d) for _, ev, d in fst.audit_entries()]
    assert len(texts) > 8 and fst.audit_entries()
    for t in texts:
        for secret in ("1357", "9753", PIN, NEW, PUK):
            assert secret not in t, t
    assert R.KEY_PIN.startswith(ST.SECRET_PREFIX) and R.KEY_NEXT.startswith(ST.SECRET_PREFIX)


def test_live_params_store_keeps_changes():
    # while the engine runs, the guard goes through Params so its commit never
    # writes back a stale PIN (issue 4 persistent store)
    ms = PM.MemoryStorage({R.KEY_PIN: PIN.encode()})
    p = PM.Params(ms)
    sim = _sim()
    assert G.SimGuard(sim, ms).boot().state == G.WORKING
    p = PM.Params(ms)
    G.change_pin(sim, p, None, NEW)
    p.set(0x0011, b"\x00\x00\x00\x3c")
    p.commit()
    assert ms.data[R.KEY_PIN] == NEW.encode() and R.KEY_NEXT not in ms.data
    assert G.pin1_errors(ms) == (3, 0)


def test_recover_with_the_cards_pin_after_a_wrong_stored_pin():
    # 4.4.1.1 / 4.4.1.4: the stored PIN1 was wrong, the boot stopped in the alarm
    # state and never sends it again; the technician enters the card's real PIN1
    # (never-lock rule still applies): it becomes the stored PIN1, the error
    # count is cleared and the next boot works; a following clear switches the
    # check off.  Refused when the card is not waiting for PIN1 or has 1 left.
    sim, st = _sim(), _store(pin="1357")
    assert G.SimGuard(sim, st).boot().state == G.ALARM
    assert sim.attempts() == (2, 10) and G.pin1_errors(st) == (3, 1)
    _raises(BadValue, G.recover, sim, st, "12a4")
    _raises(S.WrongPin, G.recover, sim, st, "8642")
    assert sim.attempts() == (1, 10) and G.pin1_errors(st) == (3, 2)
    _raises(R.WouldLock, G.recover, sim, st, PIN)           # 1 attempt left: not sent
    assert sim.attempts() == (1, 10)
    sim2, st2 = _sim(), _store(pin="1357")
    G.SimGuard(sim2, st2).boot()
    assert G.recover(sim2, st2, PIN)
    assert st2.data[R.KEY_PIN] == PIN.encode() and G.pin1_errors(st2) == (3, 0)
    assert sim2.pin_state() == S.READY and sim2.attempts() == (3, 10)
    assert "sim_recover" in [e for e, _ in st2.log]
    assert all(PIN not in str(d) for _, d in st2.log)
    sim2.power_cycle()
    assert G.SimGuard(sim2, st2).boot().state == G.WORKING
    _raises(S.SimError, G.recover, sim2, st2, PIN)          # READY: nothing to recover
    assert G.clear(sim2, st2) and not sim2.pin_enabled()


def test_status_job_reads_only():
    # 4.4.1 / appendix E g E00D, E018: what the service console's STATUS shows
    # of the SIM, read without a PIN command or a store write; a value that
    # cannot be read is None, never an exception.
    sim, st = _sim(), _store(pin="1357")
    G.SimGuard(sim, st).boot()                           # wrong stored PIN: 1 refusal
    G.bind(st, IMSI, IMEI)
    n, saves = sim.pin_commands, st.saves
    r = G.run(G.status_job(st), sim)
    assert r == {"state": S.SIM_PIN, "pin1": True, "left": (2, 10), "errors": (3, 1), "bind": 1}
    assert sim.pin_commands == n and st.saves == saves
    st.data[R.KEY] = b"\x07" * 37                        # damaged record: guard values unknown
    r = G.run(G.status_job(st), sim)
    assert r["state"] == S.SIM_PIN and r["errors"] is None and r["bind"] is None
    sim.remove()                                         # no card: its reads fail one by one
    assert G.run(G.status_job(_store()), sim) == {"state": S.NO_SIM, "pin1": None, "left": None,
                                                  "errors": (3, 0), "bind": 0}

    class Dead:                                          # the modem stopped answering
        def pin_state(self):
            raise S.SimError("modem not responding")
    assert G.run(G.status_job(_store()), Dead()) == {"state": None, "pin1": None, "left": None,
                                                     "errors": None, "bind": None}
