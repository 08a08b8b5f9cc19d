"""Portable tests of wmmp.wire.codes against appendix G (and the code values of appendix E)."""

from wmmp.wire import codes as C
from wmmp.errors import BadValue


def _raises(exc, f, *args):
    try:
        f(*args)
    except exc:
        return True
    return False


def test_register_codes():
    # appendix G a (1) REGISTER OPERATION 0x00-0x04
    assert C.REG_OP_ASSIGN_SERIAL == 0x00
    assert C.REG_OP_PRESET_SERIAL == 0x01
    assert C.REG_OP_CHANGE_MAPPING == 0x02
    assert C.REG_OP_PRESET_KEYS == 0x03
    assert C.REG_OP_REPORT_CLEARED == 0x04
    # appendix G a (2) REGISTER_ACK RESULT 0x00-0x13
    assert C.REG_ACK_OK_WAIT_SMS_KEYS == 0x00
    assert C.REG_ACK_USE_SMS == 0x02
    assert C.REG_ACK_BAD_VERSION == 0x08
    assert C.REG_ACK_OK_LOGIN == 0x09
    assert C.REG_ACK_NO_PLATFORM_BOTH == 0x0F
    assert C.REG_ACK_MISSING_BOTH_DIGESTS == 0x12
    assert C.REG_ACK_OK_NO_PASSWORD == 0x13


def test_login_logout_codes():
    # appendix G b LOGIN_ACK RESULT 0x00-0x09
    assert C.LOGIN_ACK_OK == 0x00
    assert C.LOGIN_ACK_OK_REPORT_CONFIG == 0x01
    assert C.LOGIN_ACK_NOT_REGISTERED == 0x06
    assert C.LOGIN_ACK_OK_STAY_CONNECTED == 0x08
    assert C.LOGIN_ACK_MISSING_KEY_DIGEST == 0x09
    # appendix G c LOGOUT REASON 0x00-0x0A
    assert C.LOGOUT_NORMAL == 0x00
    assert C.LOGOUT_HEARTBEAT_TIMEOUT == 0x04
    assert C.LOGOUT_SESSION_KEY_EXPIRED == 0x08  # PROTOCOL.md 5: session key expiry
    assert C.LOGOUT_UPDATE_SIM_SECURITY == 0x0A


def test_ack_codes():
    # appendix G e-i: 0x00 correct, 0x01 data invalid
    assert C.ACK_OK == 0x00 and C.ACK_INVALID == 0x01
    # appendix G j TRANSPARENT_DATA_ACK 0x00-0x06
    assert C.TD_ACK_FORWARDED == 0x00 and C.TD_ACK_PLATFORM_CRC_ERROR == 0x04
    assert C.TD_ACK_TERMINAL_OK == 0x05 and C.TD_ACK_TERMINAL_CRC_ERROR == 0x06
    # appendix G k DOWNLOAD_INFO_ACK 0x00-0x05
    assert C.DL_ACK_UP_TO_DATE == 0x00 and C.DL_ACK_UPDATING == 0x01
    assert C.DL_ACK_BAD_URL == 0x04 and C.DL_ACK_NO_BUFFER == 0x05
    # appendix G l FILE_REQ / FILE_REQ_ACK status 0x00-0x03
    assert C.FILE_REQ_START == 0x00 and C.FILE_REQ_DONE == 0x02 and C.FILE_REQ_FAILED == 0x03
    assert C.FILE_ACK_OK == 0x00 and C.FILE_ACK_BAD_BLOCK_SIZE == 0x03


def test_security_codes():
    # appendix G m SECURITY_CONFIG OPERATION 0x00-0x07
    assert C.SEC_OP_SET == 0x00 and C.SEC_OP_UPDATE_NOTICE == 0x03
    assert C.SEC_OP_REPORT == 0x04 and C.SEC_OP_REQ_ENABLE == 0x07
    # appendix G m SECURITY_CONFIG_ACK 0x00-0x05, 0x08
    assert C.SEC_ACK_OK == 0x00 and C.SEC_ACK_DECRYPT_FAILED == 0x01
    assert C.SEC_ACK_NO_ENCRYPTION == 0x05 and C.SEC_ACK_SESSION_ENCRYPTED_LOGIN == 0x08
    # appendix E g E020 bits, left to right PIN1 .. base key, last bit 0
    bits = (C.CLEARED_PIN1, C.CLEARED_PIN2, C.CLEARED_PUK1, C.CLEARED_PUK2,
            C.CLEARED_UP_PASSWORD, C.CLEARED_DOWN_PASSWORD, C.CLEARED_BASE_KEY)
    assert bits == (0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02)
    # appendix E g E022/E032 modes 0x00-0x05
    assert C.SEC_MODE_NONE == 0 and C.SEC_MODE_ALL == 1 and C.SEC_MODE_COMMAND_AND_TAG == 5
    # PROTOCOL.md 5: E035 and E039/E03E use different algorithm codes
    assert (C.ALG_NONE, C.ALG_DES, C.ALG_3DES, C.ALG_AES, C.ALG_RSA) == (0, 1, 2, 3, 4)
    assert (C.KEY_ALG_DES, C.KEY_ALG_3DES, C.KEY_ALG_AES, C.KEY_ALG_RSA) == (0, 1, 2, 3)


def test_control_and_monitor_codes():
    # appendix E f 0x4001 control commands 0x00-0x0D
    assert C.RC_SUSPEND_SERVICE == 0x00 and C.RC_RESTART == 0x02
    assert C.RC_FACTORY_RESET == 0x0A and C.RC_REPORT_CORE_CONFIG == 0x0B
    assert C.RC_RELOGIN_ENCRYPTED == 0x0D
    # appendix E e 0x300D alarm codes 0x0001-0x001C; appendix G a uses 0x001C
    assert C.ALARM_SMS_CONNECT_FAILED == 0x0001 and C.ALARM_GPS_FAULT == 0x0005
    assert C.ALARM_UPGRADE_FAILED == 0x000A and C.ALARM_PHONE == 0x001A
    assert C.ALARM_SMS_RECEIVE_TIMEOUT == 0x001C
    # appendix E e 0x300C alarm types
    assert (C.ALARM_TYPE_COMM, C.ALARM_TYPE_HARDWARE, C.ALARM_TYPE_SOFTWARE) == (1, 2, 3)
    # appendix E f 0x4010 results, 0x4002 modes, 0x4005 bearers, 0x4006 protocols
    assert (C.CFG_APPLIED, C.CFG_DEFERRED, C.CFG_FAILED_RESTORED) == (0, 1, 2)
    assert C.CONN_UDP_SHORT == 0 and C.CONN_TCP_LONG == 3 and C.CONN_USSD == 5
    assert C.COLLECT_SMS == 1 and C.COLLECT_OTHER == 4
    assert C.APP_TCP == 1 and C.APP_PROTO_SOAP == 3 and C.APP_PROTO_MAKER_MIN == 0xA0
    # appendix E e 0x3012 failure reasons, peripheral codes of 0x3010
    assert C.DL_FAIL_CONNECT == 0 and C.DL_FAIL_CRC == 4 and C.DL_FAIL_UPGRADE == 5
    assert C.PERIPH_PRINTER == 1 and C.PERIPH_PIN_PAD == 5 and C.PERIPH_PHONE == 6
    # appendix E d 0x2001 report policies
    assert (C.STATS_AT_TIME, C.STATS_PERIODIC, C.STATS_FIRST_USE) == (0, 1, 2)
    # PROTOCOL.md 6 sub-packet operations
    assert (C.SUB_DATA, C.SUB_REQUEST, C.SUB_SENDER_ABORT, C.SUB_RECEIVER_ABORT) == (0, 1, 2, 3)


# table key, codes the standard defines (written out from appendix G / E), a reserved code
