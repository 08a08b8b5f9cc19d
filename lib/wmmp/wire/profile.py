"""Interop profile: every wire knob docs/PROTOCOL.md marks "profile", in one place.

A deployment whose platform chose differently builds its own Profile and hands it
to the codec; nothing else in the package hard-codes these choices.
"""

from micropython import const

# Bearer codes as used by TLV 0x0107 (PROTOCOL.md 8).
BEARER_SMS = const(0x01)
BEARER_PACKET = const(0x02)
BEARER_MMS = const(0x04)

# Limits of appendix E a) and PROTOCOL.md 9.
SMS_TLV_MAX = const(100)        # TLV value on SMS
PACKET_TLV_MAX = const(1024)    # TLV value on packet bearers
SMS_MESSAGE_MAX = const(140)    # one binary SMS (TP-UD, 8-bit)
MESSAGE_MAX = const(65535)      # total_length is u16

# CRC16 variants (PROTOCOL.md 7).
CRC16_CCITT_FALSE = const(0)
CRC16_XMODEM = const(1)
CRC16_ARC = const(2)

# Cipher mode (PROTOCOL.md 5).
MODE_CBC = const(2)
MODE_ECB = const(1)


class Profile:
    """Interop knobs with the docs/PROTOCOL.md defaults.

    version      header version, major byte then minor byte (PROTOCOL.md 1)
    crc16        CRC16 variant for TRANSPARENT_DATA / FILE_REQ_ACK (PROTOCOL.md 7)
    cipher_mode  MODE_CBC (default) or MODE_ECB (PROTOCOL.md 5)
    iv           initial vector for CBC, None means zero bytes (PROTOCOL.md 5)
    sms_tlv_max, packet_tlv_max, sms_message_max, packet_message_max: bearer limits
    bridge_mode  the serial data bridge's delivery (4.3.11, PROTOCOL.md 11): None or "ack"
                 (default: every TRANSPARENT_DATA waits for its ACK), "router" (no ACK
                 expected or sent)
    file_window  (optional attribute, set on the instance; default 1) FILE_REQs with
                 consecutive read points a WMMP download keeps outstanding at once, each
                 with its own seq (PROTOCOL.md 12).  Not an argument: every identifier
                 here stays in RAM on a terminal without an updater too
    """

    def __init__(self, version=0x0300, crc16=CRC16_CCITT_FALSE, cipher_mode=MODE_CBC,
                 iv=None, sms_tlv_max=SMS_TLV_MAX, packet_tlv_max=PACKET_TLV_MAX,
                 sms_message_max=SMS_MESSAGE_MAX, packet_message_max=MESSAGE_MAX,
                 bridge_mode=None):
        self.version = version
        self.crc16 = crc16
        self.cipher_mode = cipher_mode
        self.iv = iv
        self.sms_tlv_max = sms_tlv_max
        self.packet_tlv_max = packet_tlv_max
        self.sms_message_max = sms_message_max
        self.packet_message_max = packet_message_max
        self.bridge_mode = bridge_mode

    def tlv_max(self, bearer):
        """Largest TLV value allowed on this bearer (appendix E a)."""
        return self.sms_tlv_max if bearer == BEARER_SMS else self.packet_tlv_max

    def message_max(self, bearer):
        """Largest whole message on this bearer (PROTOCOL.md 9)."""
        return self.sms_message_max if bearer == BEARER_SMS else self.packet_message_max

    def version_compatible(self, version):
        """A peer accepts any message whose major byte matches (TLV 0x3001 note)."""
        return (version >> 8) == (self.version >> 8)


DEFAULT = Profile()
