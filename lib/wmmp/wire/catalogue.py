"""TLV tag catalogue of appendix E: type, length rule and value checks of every tag."""

# Device-side and RAM-frugal: the whole catalogue is one bytes constant of fixed-size
# records sorted by tag and searched by bisection; there are no per-tag objects.
# Human-readable names and descriptions live in wmmp.tagnames (tools only).
#
# Record, 7 bytes: tag:u16 | type:u8 | kind:u8 | n:u16 | flags:u8.  type and kind are
# ASCII letters so that the table below reads against the standard:
#   type  S T_STR   字符串, raw (ASCII) bytes
#         N T_NUM   数字, one unsigned big-endian number (an int when 1, 2 or 4 bytes)
#         D T_DATE  日期 and the other date fields: u32 seconds since 1970 (PROTOCOL.md 8)
#         B T_BIN   BIN_STR / 数字组合信息 / composite records, and the MD5 digests and
#                   cipher bodies that the text calls 字符串/数字 (they are binary)
#         T T_TAGS  list of u16 tags or command IDs
#         0 T_NONE  no value (0x4011)
#         R T_RESERVED  listed in appendix E as reserved
#   kind  = L_FIXED exactly n bytes
#         < L_MAX   1..n bytes
#         * L_VAR   at least n bytes (n is the minimum: 7 for the sub-packet heads)
#         x L_MULT  a multiple of a unit; n = max_count << 8 | unit, max_count 0 meaning
#                   no count limit (appendix E d: "8xn, n at most 90")
# A zero length (L=0: "report this tag" / "unsupported tag", appendix G e-i) is never
# accepted by check_length; callers handle L=0 before asking the catalogue.

from micropython import const

from wmmp.errors import BadTlv, BadValue, TooLongForBearer

# Value types.
T_STR = const(0x53)       # 'S'
T_NUM = const(0x4E)       # 'N'
T_DATE = const(0x44)      # 'D'
T_BIN = const(0x42)       # 'B'
T_TAGS = const(0x54)      # 'T'
T_NONE = const(0x30)      # '0'
T_RESERVED = const(0x52)  # 'R'

# Length kinds.
L_FIXED = const(0x3D)     # '='
L_MAX = const(0x3C)       # '<'
L_VAR = const(0x2A)       # '*'
L_MULT = const(0x78)      # 'x'

# Flags.
F_SECRET = const(0x01)    # never log or show the value in clear
F_ASCENDING = const(0x02)  # u16 list must be strictly ascending (0x0025, 0x002C, 0x002D)
F_CODES = const(0x04)     # a list of u16 codes: decode_value gives a list (0x300D, 0x300E, 0x3010)

# Tag groups by range (appendix E a, PROTOCOL.md 1).
G_CONFIG = const(1)
G_UPGRADE = const(2)
G_STATISTICS = const(3)
G_MONITOR = const(4)
G_CONTROL = const(5)
G_PLATFORM = const(6)
G_MAKER = const(7)
G_SECURITY = const(8)

_REC = const(7)

# Every tag row of appendix E, sorted by tag.  Where this differs from the table text:
#   0x0011 u32 and 0x0026 u16 follow PROTOCOL.md 8 (the table agrees).
#   0x1009 u32 (PROTOCOL.md 8: the table says 2 bytes but also "8 hex digits").
#   0xE001/E004/E007/E00A PIN/PUK: 1..8 bytes here, 4..8 digits or 8 bytes padded
#       with 0x00/'F' in validate() (PROTOCOL.md 8; the table says "8 digits").
#   0xE02A, 0xE038, 0xE03D: the table gives no length; u32 date (PROTOCOL.md 8).
#   0x002A/0x002B/0x0107/0x0109/0x4008 are 数字 in the table but composite: T_BIN.
#   0xE023/E024/E033/E034 are 字符串 in the table but lists of u16 IDs: T_TAGS.
#   0x300D/0x300E/0x3010 lists of u16 codes (0x300E "不定长"), 0x300F/0x4021 records
#       of id:u16|state:u8 (0x4021 has no length in the table).
#   0x3001-0x3007, 0x4002-0x4006, 0x4010, 0x4012-0x4017, 0x4021: the table gives no
#       type; chosen from the description.
_CAT = (
    # --- appendix E b) configuration
    b"\x00\x01" b"S<" b"\x00\x10" b"\x00"  # 0x0001 dial number
    b"\x00\x02" b"S<" b"\x00\x20" b"\x00"  # 0x0002 platform APN
    b"\x00\x03" b"S<" b"\x00\x20" b"\x00"  # 0x0003 dial user name
    b"\x00\x04" b"S<" b"\x00\x20" b"\x01"  # 0x0004 dial password
    b"\x00\x05" b"S<" b"\x00\x14" b"\x00"  # 0x0005 SMS centre number
    b"\x00\x06" b"S*" b"\x00\x01" b"\x01"  # 0x0006 application server transport key
    b"\x00\x07" b"S<" b"\x00\x14" b"\x00"  # 0x0007 platform SMS service number
    b"\x00\x08" b"S<" b"\x00\x40" b"\x00"  # 0x0008 platform URL
    b"\x00\x09" b"N=" b"\x00\x04" b"\x00"  # 0x0009 platform IP address
    b"\x00\x0a" b"N=" b"\x00\x04" b"\x00"  # 0x000A platform ports UDP<<16|TCP
    b"\x00\x0b" b"S<" b"\x00\x14" b"\x00"  # 0x000B application SMS centre number
    b"\x00\x0c" b"S<" b"\x00\x40" b"\x00"  # 0x000C application server URL
    b"\x00\x0d" b"N=" b"\x00\x04" b"\x00"  # 0x000D application server IP (unused)
    b"\x00\x0e" b"N=" b"\x00\x04" b"\x00"  # 0x000E application server ports (unused)
    b"\x00\x0f" b"R*" b"\x00\x01" b"\x00"  # 0x000F reserved (backup server URL)
    b"\x00\x10" b"N=" b"\x00\x04" b"\x00"  # 0x0010 DNS address
    b"\x00\x11" b"N=" b"\x00\x04" b"\x00"  # 0x0011 heartbeat period s, u32 (PROTOCOL.md 8)
    b"\x00\x12" b"S<" b"\x00\x14" b"\x00"  # 0x0012 USSD service number
    b"\x00\x13" b"S<" b"\x00\x20" b"\x00"  # 0x0013 application APN
    b"\x00\x14" b"N=" b"\x00\x04" b"\x00"  # 0x0014 backup DNS address
    b"\x00\x25" b"Tx" b"\x00\x02" b"\x02"  # 0x0025 core config tags, ascending
    b"\x00\x26" b"N=" b"\x00\x02" b"\x00"  # 0x0026 SMS wait s, u16 (PROTOCOL.md 8)
    b"\x00\x27" b"N=" b"\x00\x01" b"\x00"  # 0x0027 login retries
    b"\x00\x28" b"N*" b"\x00\x01" b"\x00"  # 0x0028 EC code
    b"\x00\x29" b"N=" b"\x00\x01" b"\x00"  # 0x0029 register retries
    b"\x00\x2a" b"B=" b"\x00\x08" b"\x00"  # 0x002A login retry gap min:u32 max:u32
    b"\x00\x2b" b"B=" b"\x00\x08" b"\x00"  # 0x002B register retry gap min:u32 max:u32
    b"\x00\x2c" b"Tx" b"\x00\x02" b"\x02"  # 0x002C user persistent TLV tags, ascending
    b"\x00\x2d" b"Tx" b"\x00\x02" b"\x02"  # 0x002D user volatile TLV tags, ascending
    b"\x00\x2e" b"S*" b"\x00\x01" b"\x00"  # 0x002E MSISDN
    # --- appendix E b) personalised (serial port) parameters
    b"\x01\x01" b"N=" b"\x00\x02" b"\x00"  # 0x0101 serial baud index
    b"\x01\x02" b"N=" b"\x00\x01" b"\x00"  # 0x0102 serial data bits
    b"\x01\x03" b"N=" b"\x00\x01" b"\x00"  # 0x0103 serial stop bits
    b"\x01\x04" b"N=" b"\x00\x01" b"\x00"  # 0x0104 serial parity
    b"\x01\x05" b"N=" b"\x00\x02" b"\x00"  # 0x0105 serial frame gap, 100 ms
    b"\x01\x06" b"R=" b"\x00\x02" b"\x00"  # 0x0106 reserved
    b"\x01\x07" b"Bx" b"\x00\x04" b"\x00"  # 0x0107 ACK timeouts, 4xN
    b"\x01\x08" b"N=" b"\x00\x01" b"\x00"  # 0x0108 retransmissions
    b"\x01\x09" b"B=" b"\x00\x03" b"\x00"  # 0x0109 threshold kind:u8 value:u16
    # --- appendix E c) software download and upgrade
    b"\x10\x00" b"N=" b"\x00\x01" b"\x00"  # 0x1000 download protocol
    b"\x10\x01" b"S*" b"\x00\x01" b"\x00"  # 0x1001 download URL
    b"\x10\x02" b"S*" b"\x00\x01" b"\x00"  # 0x1002 download server IP
    b"\x10\x03" b"N=" b"\x00\x02" b"\x00"  # 0x1003 download server port
    b"\x10\x04" b"S*" b"\x00\x01" b"\x01"  # 0x1004 download server password
    b"\x10\x05" b"S*" b"\x00\x01" b"\x00"  # 0x1005 file version
    b"\x10\x06" b"N=" b"\x00\x04" b"\x00"  # 0x1006 file size
    b"\x10\x07" b"N=" b"\x00\x02" b"\x00"  # 0x1007 file CRC16
    b"\x10\x08" b"N=" b"\x00\x04" b"\x00"  # 0x1008 file CRC32
    b"\x10\x09" b"N=" b"\x00\x04" b"\x00"  # 0x1009 TRANS_ID, u32 (PROTOCOL.md 8; table says 2)
    b"\x10\x0a" b"S=" b"\x00\x0c" b"\x00"  # 0x100A release date YYYYMMDDHHMM
    b"\x10\x0b" b"N=" b"\x00\x01" b"\x00"  # 0x100B forced upgrade
    b"\x10\x0c" b"S=" b"\x00\x08" b"\x00"  # 0x100C current software version
    # --- appendix E d) statistics
    b"\x20\x01" b"N=" b"\x00\x01" b"\x00"  # 0x2001 statistics report policy
    b"\x20\x02" b"D=" b"\x00\x04" b"\x00"  # 0x2002 timed report time
    b"\x20\x03" b"N=" b"\x00\x04" b"\x00"  # 0x2003 report period s
    b"\x20\x04" b"N=" b"\x00\x01" b"\x00"  # 0x2004 service used this month
    b"\x20\x05" b"N=" b"\x00\x01" b"\x00"  # 0x2005 clear after report
    b"\x20\x06" b"D=" b"\x00\x04" b"\x00"  # 0x2006 statistics start
    b"\x20\x07" b"D=" b"\x00\x04" b"\x00"  # 0x2007 statistics end
    b"\x20\x08" b"N=" b"\x00\x04" b"\x00"  # 0x2008 SMS sent ok
    b"\x20\x09" b"N=" b"\x00\x04" b"\x00"  # 0x2009 SMS send failed
    b"\x20\x0a" b"N=" b"\x00\x04" b"\x00"  # 0x200A SMS received
    b"\x20\x0b" b"N=" b"\x00\x04" b"\x00"  # 0x200B packet bytes
    b"\x20\x0c" b"N=" b"\x00\x04" b"\x00"  # 0x200C USSD ok
    b"\x20\x0d" b"N=" b"\x00\x04" b"\x00"  # 0x200D USSD failed
    b"\x20\x0e" b"N=" b"\x00\x04" b"\x00"  # 0x200E USSD received
    b"\x20\x11" b"B=" b"\x00\x0c" b"\x00"  # 0x2011 SMS statistics setting
    b"\x20\x12" b"B=" b"\x00\x0c" b"\x00"  # 0x2012 SMS statistics auto report
    b"\x20\x13" b"Bx" b"\x5a\x08" b"\x00"  # 0x2013 M2M SMS records 8xn, n<=90
    b"\x20\x14" b"Bx" b"\x5a\x08" b"\x00"  # 0x2014 service SMS records 8xn, n<=90
    b"\x20\x15" b"B=" b"\x00\x0c" b"\x00"  # 0x2015 packet statistics setting
    b"\x20\x16" b"B=" b"\x00\x0c" b"\x00"  # 0x2016 packet statistics auto report
    b"\x20\x17" b"Bx" b"\x5a\x0c" b"\x00"  # 0x2017 M2M packet records 12xn, n<=90
    b"\x20\x18" b"Bx" b"\x5a\x0c" b"\x00"  # 0x2018 service packet records 12xn, n<=90
    b"\x20\x19" b"B=" b"\x00\x0c" b"\x00"  # 0x2019 USSD statistics setting
    b"\x20\x1a" b"B=" b"\x00\x0c" b"\x00"  # 0x201A USSD statistics auto report
    b"\x20\x1b" b"Bx" b"\x5a\x08" b"\x00"  # 0x201B M2M USSD records 8xn, n<=90
    b"\x20\x1c" b"Bx" b"\x5a\x08" b"\x00"  # 0x201C service USSD records 8xn, n<=90
    # --- appendix E e) monitoring
    b"\x30\x01" b"N=" b"\x00\x02" b"\x00"  # 0x3001 protocol version
    b"\x30\x02" b"S=" b"\x00\x10" b"\x00"  # 0x3002 terminal serial
    b"\x30\x04" b"S=" b"\x00\x08" b"\x00"  # 0x3004 software version
    b"\x30\x05" b"N=" b"\x00\x04" b"\x00"  # 0x3005 last heartbeat delay
    b"\x30\x06" b"N=" b"\x00\x04" b"\x00"  # 0x3006 cell id LAC<<16|CI
    b"\x30\x07" b"N=" b"\x00\x01" b"\x00"  # 0x3007 signal 0..100
    b"\x30\x08" b"N=" b"\x00\x01" b"\x00"  # 0x3008 factory reset notice
    b"\x30\x09" b"D=" b"\x00\x04" b"\x00"  # 0x3009 system time
    b"\x30\x0a" b"R*" b"\x00\x01" b"\x00"  # 0x300A reserved
    b"\x30\x0b" b"N=" b"\x00\x01" b"\x00"  # 0x300B alarm status
    b"\x30\x0c" b"N=" b"\x00\x01" b"\x00"  # 0x300C alarm type
    b"\x30\x0d" b"Bx" b"\x00\x02" b"\x04"  # 0x300D alarm codes 2xn
    b"\x30\x0e" b"Bx" b"\x00\x02" b"\x04"  # 0x300E restored alarm codes
    b"\x30\x0f" b"Bx" b"\x00\x03" b"\x00"  # 0x300F peripheral states id:u16 state:u8
    b"\x30\x10" b"Bx" b"\x00\x02" b"\x04"  # 0x3010 supported peripherals
    b"\x30\x11" b"N=" b"\x00\x04" b"\x00"  # 0x3011 lost packets
    b"\x30\x12" b"B=" b"\x00\x05" b"\x00"  # 0x3012 download failure trans_id:u32 reason:u8
    # --- appendix E f) control
    b"\x40\x01" b"N=" b"\x00\x01" b"\x00"  # 0x4001 control command
    b"\x40\x02" b"N=" b"\x00\x01" b"\x00"  # 0x4002 connection mode
    b"\x40\x03" b"N=" b"\x00\x01" b"\x00"  # 0x4003 data transfer mode
    b"\x40\x05" b"N=" b"\x00\x01" b"\x00"  # 0x4005 collected data bearer
    b"\x40\x06" b"B=" b"\x00\x02" b"\x00"  # 0x4006 application transport, protocol
    b"\x40\x07" b"B*" b"\x00\x01" b"\x00"  # 0x4007 user data
    b"\x40\x08" b"B*" b"\x00\x07" b"\x00"  # 0x4008 sub-packet, 7-byte head
    b"\x40\x09" b"N=" b"\x00\x01" b"\x00"  # 0x4009 forced apply
    b"\x40\x10" b"B=" b"\x00\x05" b"\x00"  # 0x4010 config result:u8 seq:u32
    b"\x40\x11" b"0=" b"\x00\x00" b"\x00"  # 0x4011 local manual config notice, no value
    b"\x40\x12" b"S=" b"\x00\x10" b"\x00"  # 0x4012 destination terminal serial
    b"\x40\x13" b"S=" b"\x00\x10" b"\x00"  # 0x4013 source terminal serial
    b"\x40\x14" b"S*" b"\x00\x01" b"\x00"  # 0x4014 destination EC code
    b"\x40\x15" b"S*" b"\x00\x01" b"\x00"  # 0x4015 source EC code
    b"\x40\x16" b"B*" b"\x00\x01" b"\x00"  # 0x4016 transparent command
    b"\x40\x17" b"N=" b"\x00\x04" b"\x00"  # 0x4017 config CRC32
    b"\x40\x21" b"Bx" b"\x00\x03" b"\x00"  # 0x4021 peripheral control id:u16 on:u8
    # --- appendix E g) security
    b"\xe0\x01" b"S<" b"\x00\x08" b"\x01"  # 0xE001 PIN1 (PROTOCOL.md 8)
    b"\xe0\x02" b"B=" b"\x00\x10" b"\x00"  # 0xE002 PIN1 digest
    b"\xe0\x03" b"N=" b"\x00\x01" b"\x00"  # 0xE003 PIN1 enable
    b"\xe0\x04" b"S<" b"\x00\x08" b"\x01"  # 0xE004 PIN2 (PROTOCOL.md 8)
    b"\xe0\x05" b"B=" b"\x00\x10" b"\x00"  # 0xE005 PIN2 digest
    b"\xe0\x06" b"N=" b"\x00\x01" b"\x00"  # 0xE006 PIN2 enable
    b"\xe0\x07" b"S<" b"\x00\x08" b"\x01"  # 0xE007 PUK1 (PROTOCOL.md 8)
    b"\xe0\x08" b"B=" b"\x00\x10" b"\x00"  # 0xE008 PUK1 digest
    b"\xe0\x09" b"N=" b"\x00\x01" b"\x00"  # 0xE009 PUK1 enable
    b"\xe0\x0a" b"S<" b"\x00\x08" b"\x01"  # 0xE00A PUK2 (PROTOCOL.md 8)
    b"\xe0\x0b" b"B=" b"\x00\x10" b"\x00"  # 0xE00B PUK2 digest
    b"\xe0\x0c" b"N=" b"\x00\x01" b"\x00"  # 0xE00C PUK2 enable
    b"\xe0\x0d" b"N=" b"\x00\x01" b"\x00"  # 0xE00D SIM binding
    b"\xe0\x0e" b"S=" b"\x00\x10" b"\x00"  # 0xE00E IMEI
    b"\xe0\x0f" b"B=" b"\x00\x10" b"\x00"  # 0xE00F IMEI digest
    b"\xe0\x10" b"S=" b"\x00\x10" b"\x00"  # 0xE010 old IMEI
    b"\xe0\x11" b"B=" b"\x00\x10" b"\x00"  # 0xE011 old IMEI digest
    b"\xe0\x12" b"S=" b"\x00\x0f" b"\x00"  # 0xE012 IMSI
    b"\xe0\x13" b"B=" b"\x00\x10" b"\x00"  # 0xE013 IMSI digest
    b"\xe0\x14" b"S=" b"\x00\x0f" b"\x00"  # 0xE014 old IMSI
    b"\xe0\x15" b"B=" b"\x00\x10" b"\x00"  # 0xE015 old IMSI digest
    b"\xe0\x16" b"B=" b"\x00\x10" b"\x00"  # 0xE016 binding digest
    b"\xe0\x17" b"B=" b"\x00\x10" b"\x00"  # 0xE017 old binding digest
    b"\xe0\x18" b"N=" b"\x00\x02" b"\x00"  # 0xE018 PIN1 error limit, count
    b"\xe0\x19" b"N=" b"\x00\x02" b"\x00"  # 0xE019 PIN2 error limit, count
    b"\xe0\x1a" b"N=" b"\x00\x02" b"\x00"  # 0xE01A PUK1 error limit, count
    b"\xe0\x1b" b"N=" b"\x00\x02" b"\x00"  # 0xE01B PUK2 error limit, count
    b"\xe0\x20" b"N=" b"\x00\x01" b"\x00"  # 0xE020 locally cleared secrets, bits
    b"\xe0\x21" b"B=" b"\x00\x10" b"\x00"  # 0xE021 access digest (PROTOCOL.md 3)
    b"\xe0\x22" b"N=" b"\x00\x01" b"\x00"  # 0xE022 digest mode
    b"\xe0\x23" b"Tx" b"\x00\x02" b"\x00"  # 0xE023 command ids needing a digest
    b"\xe0\x24" b"Tx" b"\x00\x02" b"\x00"  # 0xE024 tags needing a digest
    b"\xe0\x25" b"S=" b"\x00\x08" b"\x01"  # 0xE025 uplink password
    b"\xe0\x26" b"B=" b"\x00\x10" b"\x00"  # 0xE026 uplink password digest
    b"\xe0\x27" b"D=" b"\x00\x04" b"\x00"  # 0xE027 uplink password expiry
    b"\xe0\x28" b"S=" b"\x00\x08" b"\x01"  # 0xE028 downlink password
    b"\xe0\x29" b"B=" b"\x00\x10" b"\x00"  # 0xE029 downlink password digest
    b"\xe0\x2a" b"D=" b"\x00\x04" b"\x00"  # 0xE02A downlink password expiry (PROTOCOL.md 8)
    b"\xe0\x31" b"N=" b"\x00\x01" b"\x00"  # 0xE031 encryption supported
    b"\xe0\x32" b"N=" b"\x00\x01" b"\x00"  # 0xE032 encryption mode
    b"\xe0\x33" b"Tx" b"\x00\x02" b"\x00"  # 0xE033 command ids to encrypt
    b"\xe0\x34" b"Tx" b"\x00\x02" b"\x00"  # 0xE034 tags to encrypt
    b"\xe0\x35" b"N=" b"\x00\x01" b"\x00"  # 0xE035 encryption algorithm
    b"\xe0\x36" b"S*" b"\x00\x01" b"\x01"  # 0xE036 base key
    b"\xe0\x37" b"S*" b"\x00\x01" b"\x01"  # 0xE037 base private key
    b"\xe0\x38" b"D=" b"\x00\x04" b"\x00"  # 0xE038 base key expiry (PROTOCOL.md 8)
    b"\xe0\x39" b"N=" b"\x00\x01" b"\x00"  # 0xE039 base key algorithm
    b"\xe0\x3a" b"B=" b"\x00\x10" b"\x00"  # 0xE03A base key digest
    b"\xe0\x3b" b"S*" b"\x00\x01" b"\x01"  # 0xE03B session key
    b"\xe0\x3c" b"S*" b"\x00\x01" b"\x01"  # 0xE03C session private key
    b"\xe0\x3d" b"D=" b"\x00\x04" b"\x00"  # 0xE03D session key expiry (PROTOCOL.md 8)
    b"\xe0\x3e" b"N=" b"\x00\x01" b"\x00"  # 0xE03E session key algorithm
    b"\xe0\x3f" b"B=" b"\x00\x10" b"\x00"  # 0xE03F session key digest
    b"\xe0\x40" b"B*" b"\x00\x01" b"\x01"  # 0xE040 encrypted session key
    b"\xe0\x41" b"N=" b"\x00\x01" b"\x00"  # 0xE041 reply on security failure
    b"\xe0\x42" b"B*" b"\x00\x01" b"\x01"  # 0xE042 fully encrypted content
    b"\xe0\x43" b"B*" b"\x00\x01" b"\x01"  # 0xE043 encrypted TLVs
    b"\xe0\x44" b"B*" b"\x00\x07" b"\x01"  # 0xE044 encrypted sub-packet, 7-byte head
)

# Value rules (appendix E, PROTOCOL.md 8): tag:u16 | offset:u8 | lo:u8 | hi:u8, sorted by
# tag.  The byte at offset of the value (of every record, for L_MULT tags) must lie
# in lo..hi.  A tag may have several rules.
_RULES = (
    b"\x01\x01\x00\x00\x00" b"\x01\x01\x01\x00\xfe"  # 0x0101 baud index u16 0..254 (PROTOCOL.md 8)
    b"\x01\x03\x00\x00\x02"  # 0x0103 stop bits
    b"\x01\x04\x00\x00\x04"  # 0x0104 parity
    b"\x01\x05\x00\x00\x00" b"\x01\x05\x01\x01\x64"  # 0x0105 frame gap u16 1..100
    b"\x01\x07\x00\x01\x05" b"\x01\x07\x01\x00\x02"  # 0x0107 bearer 1..5, unit 0..2
    b"\x10\x00\x00\x00\x02"  # 0x1000 download protocol
    b"\x10\x0b\x00\x00\x01"  # 0x100B forced upgrade
    b"\x20\x01\x00\x00\x02"  # 0x2001 report policy
    b"\x20\x04\x00\x00\x01"  # 0x2004 used this month
    b"\x20\x05\x00\x00\x01"  # 0x2005 clear after report
    b"\x20\x11\x00\x00\x01" b"\x20\x11\x03\x00\x06"  # 0x2011 switch, period unit
    b"\x20\x12\x00\x00\x01" b"\x20\x12\x03\x00\x06"  # 0x2012
    b"\x20\x15\x00\x00\x01" b"\x20\x15\x03\x00\x06"  # 0x2015
    b"\x20\x16\x00\x00\x01" b"\x20\x16\x03\x00\x06"  # 0x2016
    b"\x20\x19\x00\x00\x01" b"\x20\x19\x03\x00\x06"  # 0x2019
    b"\x20\x1a\x00\x00\x01" b"\x20\x1a\x03\x00\x06"  # 0x201A
    b"\x30\x07\x00\x00\x64"  # 0x3007 signal 0..100
    b"\x30\x08\x00\x00\x01"  # 0x3008 factory reset notice
    b"\x30\x0b\x00\x00\x01"  # 0x300B alarm status
    b"\x30\x0c\x00\x01\x03"  # 0x300C alarm type
    b"\x30\x0f\x02\x00\x02"  # 0x300F peripheral state 0 off, 1 on, 2 fault
    b"\x30\x12\x04\x00\x05"  # 0x3012 download failure reason
    b"\x40\x01\x00\x00\x0d"  # 0x4001 control command
    b"\x40\x02\x00\x00\x05"  # 0x4002 connection mode
    b"\x40\x03\x00\x00\x01"  # 0x4003 data transfer mode
    b"\x40\x05\x00\x01\x04"  # 0x4005 collected data bearer
    b"\x40\x06\x00\x00\x01"  # 0x4006 UDP/TCP (protocol byte checked in code)
    b"\x40\x08\x06\x00\x03"  # 0x4008 sub-packet operation (PROTOCOL.md 6)
    b"\x40\x09\x00\x00\x01"  # 0x4009 forced apply
    b"\x40\x10\x00\x00\x02"  # 0x4010 config result
    b"\x40\x21\x02\x00\x01"  # 0x4021 peripheral off/on
    b"\xe0\x03\x00\x00\x01"  # 0xE003 PIN1 enable
    b"\xe0\x06\x00\x00\x01"  # 0xE006 PIN2 enable
    b"\xe0\x09\x00\x00\x01"  # 0xE009 PUK1 enable
    b"\xe0\x0c\x00\x00\x01"  # 0xE00C PUK2 enable
    b"\xe0\x0d\x00\x00\x02"  # 0xE00D SIM binding
    b"\xe0\x22\x00\x00\x05"  # 0xE022 digest mode
    b"\xe0\x31\x00\x00\x01"  # 0xE031 encryption supported
    b"\xe0\x32\x00\x00\x05"  # 0xE032 encryption mode
    b"\xe0\x35\x00\x00\x04"  # 0xE035 algorithm (PROTOCOL.md 5)
    b"\xe0\x39\x00\x00\x03"  # 0xE039 base key algorithm (PROTOCOL.md 5)
    b"\xe0\x3e\x00\x00\x03"  # 0xE03E session key algorithm (PROTOCOL.md 5)
    b"\xe0\x41\x00\x00\x01"  # 0xE041 reply on failure
    b"\xe0\x44\x06\x00\x03"  # 0xE044 encrypted sub-packet operation (PROTOCOL.md 6)
)


def _lower(tag, table, size):
    """Offset of the first record whose tag is >= tag in a sorted table."""
    lo = 0
    hi = len(table) // size
    while lo < hi:
        mid = (lo + hi) >> 1
        if ((table[mid * size] << 8) | table[mid * size + 1]) < tag:
            lo = mid + 1
        else:
            hi = mid
    return lo * size


def _find(tag):
    c = _CAT
    o = _lower(tag, c, _REC)
    if o < len(c) and ((c[o] << 8) | c[o + 1]) == tag:
        return o
    return -1


def _uint(v):
    x = 0
    for b in v:
        x = (x << 8) | b
    return x


def lookup(tag):
    """(type, kind, n, flags) of a catalogue tag, or None.  For L_MULT, n is the unit."""
    o = _find(tag)
    if o < 0:
        return None
    c = _CAT
    return (c[o + 2], c[o + 3], c[o + 5] if c[o + 3] == L_MULT else (c[o + 4] << 8) | c[o + 5], c[o + 6])


def is_known(tag):
    return _find(tag) >= 0


def is_secret(tag):
    """True for passwords, PINs and keys that must never be logged in clear."""
    o = _find(tag)
    return o >= 0 and bool(_CAT[o + 6] & F_SECRET)


def max_count(tag):
    """Largest record count of an L_MULT tag (0: no limit), None for other tags."""
    o = _find(tag)
    return _CAT[o + 4] if o >= 0 and _CAT[o + 3] == L_MULT else None


def tags():
    """Every catalogue tag in ascending order (for tools and tests)."""
    c = _CAT
    for o in range(0, len(c), _REC):
        yield (c[o] << 8) | c[o + 1]


def group(tag):
    """Group of a tag by range (appendix E a, PROTOCOL.md 1), None outside every range.
    0x1000 counts as upgrade: appendix E a starts that range at 0x1001, E c lists 0x1000."""
    if not 0 <= tag <= 0xFFFF or tag in (0, 0x2000, 0x3000, 0x4000, 0x5000, 0x8000, 0xE000):
        return None
    return b"\x01\x02\x03\x04\x05\x06\x06\x06\x07\x07\x07\x07\x07\x07\x08\x08"[tag >> 12]


def _check(tag, n):
    """Record offset of tag; BadTlv if unknown or n is an impossible value length."""
    o = _find(tag)
    if o < 0:
        raise BadTlv("unknown tag 0x%04X" % tag, tag)
    kind = _CAT[o + 3]
    m = (_CAT[o + 4] << 8) | _CAT[o + 5]
    if kind == L_FIXED:
        ok = n == m
    elif n == 0 or n > 0xFFFF:
        ok = False
    elif kind == L_MAX:
        ok = n <= m
    elif kind == L_VAR:
        ok = n >= m
    else:  # L_MULT: unit in the low byte, max count (0: none) in the high byte
        ok = n % (m & 0xFF) == 0 and (m < 0x100 or n // (m & 0xFF) <= m >> 8)
    if not ok:
        raise BadTlv("bad length %d for tag 0x%04X" % (n, tag), tag)
    return o


def check_length(tag, value_len, limit=None):
    """Raise BadTlv unless value_len is possible for tag (L=0 never is, except for
    0x4011 which has no value).  limit: optional bearer limit of a TLV value
    (appendix E a); a longer value raises TooLongForBearer."""
    if limit is not None and value_len > limit and is_known(tag):
        raise TooLongForBearer("tag 0x%04X: %d bytes over bearer limit" % (tag, value_len))
    _check(tag, value_len)


def _bad(tag):
    raise BadValue("bad value for tag 0x%04X" % tag, tag)


def _all(v, n, k):
    """True if v[0:n] are all digits (k=0), visible ASCII (k=1) or letters/digits (k=2)."""
    for i in range(n):
        b = v[i]
        if not (0x30 <= b <= 0x39 or (k == 1 and 0x21 <= b <= 0x7E)
                or (k == 2 and (0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A))):
            return False
    return True


def _num(v, s, e):
    x = 0
    for i in range(s, e):
        x = x * 10 + v[i] - 0x30
    return x


def validate(tag, value):
    """Check a non-empty TLV value: BadTlv for an unknown tag or an impossible length,
    BadValue for a value the standard (or PROTOCOL.md 8) does not allow."""
    v = value
    n = len(v)
    o = _check(tag, n)
    step = _CAT[o + 5] if _CAT[o + 3] == L_MULT else n
    r = _RULES
    i = _lower(tag, r, 5)
    while i < len(r) and ((r[i] << 8) | r[i + 1]) == tag:
        for j in range(r[i + 2], n, step):
            if not r[i + 3] <= v[j] <= r[i + 4]:
                _bad(tag)
        i += 5
    ok = True
    if _CAT[o + 6] & F_ASCENDING:  # appendix E b: "按TAG升序排列"
        for j in range(2, n, 2):
            if (v[j - 2] << 8) | v[j - 1] >= (v[j] << 8) | v[j + 1]:
                ok = False
    elif tag == 0x0102:
        ok = v[0] in (0, 5, 6, 7, 8)
    elif tag in (0x002A, 0x002B):  # PROTOCOL.md 8: min <= max
        ok = _uint(v[0:4]) <= _uint(v[4:8])
    elif tag == 0x100A:  # appendix E c: YYYYMMDDHHMM
        y = _num(v, 0, 4)
        mo = _num(v, 4, 6)
        m = 0
        if _all(v, 12, 0) and 1970 <= y <= 2099 and 1 <= mo <= 12 and _num(v, 8, 10) < 24 and _num(v, 10, 12) < 60:
            m = b"\x1f\x1d\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"[mo - 1]
            if mo == 2 and (y % 4 or (y % 100 == 0 and y % 400)):
                m = 28
        ok = 1 <= _num(v, 6, 8) <= m
    elif tag == 0x4006:  # application protocol: 0..3, or maker-defined 0xA0..0xFF
        ok = not 3 < v[1] < 0xA0
    elif tag == 0xE020:  # appendix E g: the eighth bit is undefined, 0
        ok = not v[0] & 1
    elif tag in (0xE001, 0xE004, 0xE007, 0xE00A):
        # PROTOCOL.md 8: 4..8 digits; an 8-byte value may be right-padded with 0x00 or 'F'.
        if n == 8:
            while n > 4 and v[n - 1] in (0, 0x46):
                n -= 1
        ok = n >= 4 and _all(v, n, 0)
    elif tag in (0xE00E, 0xE010):  # IMEI: 15 digits + 0x00 (PROTOCOL.md 2), or 16 digits
        ok = _all(v, 15, 0) and (v[15] == 0 or _all(v, 16, 0))
    elif tag in (0xE012, 0xE014):  # IMSI: 15 digits (PROTOCOL.md 2)
        ok = _all(v, 15, 0)
    elif tag in (0xE025, 0xE028):  # PROTOCOL.md 8: 8 visible ASCII characters
        ok = _all(v, 8, 1)
    elif tag in (0xE036, 0xE037, 0xE03B, 0xE03C):  # appendix E g: letters and digits
        ok = _all(v, n, 2)
    if not ok:
        _bad(tag)


def decode_value(tag, value):
    """Python value of a TLV value, for tools: None for L=0; int for 1/2/4-byte numbers
    and for dates; a list of ints for tag lists and code lists; bytes otherwise (also
    for tags outside the catalogue).  Raises BadTlv on an impossible length."""
    n = len(value)
    if n == 0:
        return None
    if not is_known(tag):
        return bytes(value)
    _check(tag, n)
    ty, kind, m, fl = lookup(tag)
    if ty == T_DATE or (ty == T_NUM and kind == L_FIXED and n in (1, 2, 4)):
        return _uint(value)
    if ty == T_TAGS or fl & F_CODES:
        return [(value[i] << 8) | value[i + 1] for i in range(0, n, 2)]
    return bytes(value)


def encode_value(tag, pyvalue):
    """TLV value bytes of a Python value: int (fixed-size numbers and dates), list of u16,
    bytes or str.  A shorter value of a fixed-size non-secret string tag is right-padded
    with 0x00 (PROTOCOL.md 1).  None or an empty value gives b"" (L=0).  Lengths of catalogue
    tags are checked; validate() checks the value rules."""
    ty, kind, n, fl = lookup(tag) or (0, 0, 0, 0)
    if pyvalue is None:
        return b""
    if isinstance(pyvalue, int):
        if ty not in (T_NUM, T_DATE) or kind != L_FIXED or not 0 < n <= 8 or pyvalue < 0 or pyvalue >> (8 * n):
            _bad(tag)
        out = bytes([(pyvalue >> (8 * i)) & 0xFF for i in range(n - 1, -1, -1)])
    elif isinstance(pyvalue, (list, tuple)):
        out = bytearray()
        for x in pyvalue:
            if not 0 <= x <= 0xFFFF:
                _bad(tag)
            out += bytes((x >> 8, x & 0xFF))
    elif isinstance(pyvalue, str):
        out = pyvalue.encode()
    elif isinstance(pyvalue, (bytes, bytearray, memoryview)):
        out = pyvalue
    else:
        _bad(tag)
    out = bytes(out)
    if ty and out:
        if ty == T_STR and kind == L_FIXED and not fl & F_SECRET and len(out) < n:
            out += bytes(n - len(out))
        _check(tag, len(out))
    return out
