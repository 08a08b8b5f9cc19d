"""TLV tag catalogue (appendix E): type, length rule and value checks of every tag.

Device-side and RAM-frugal: the whole catalogue is one bytes constant of fixed-size
records sorted by tag and searched by bisection; there are no per-tag objects.
Human-readable names and descriptions live in wmmp.tagnames (tools only).

Record, 7 bytes: tag:u16 | type:u8 | kind:u8 | n:u16 | flags:u8.  type and kind are
ASCII letters so the table below can be read against the standard:
    type  S T_STR   字符串, raw (ASCII) bytes
          N T_NUM   数字, one unsigned big-endian number (int when 1, 2 or 4 bytes)
          D T_DATE  日期 / date fields: u32 seconds since 1970 (INTEROP 8)
          B T_BIN   BIN_STR / 数字组合信息 / composite records, and the MD5 digests
                    and cipher bodies the text calls 字符串/数字 (they are binary)
          T T_TAGS  list of u16 tags or command IDs
          0 T_NONE  no value (0x4011)
          R T_RESERVED  listed in appendix E as reserved
    kind  = L_FIXED exactly n bytes
          < L_MAX   1..n bytes
          * L_VAR   at least n bytes (n is the minimum, 7 for the sub-packet heads)
          x L_MULT  a multiple of unit bytes; n = max_count << 8 | unit, max_count 0
                    meaning no count limit (appendix E d: "8xn, n at most 90")
A zero length (L=0, "please report this tag" / "unsupported") is never accepted by
check_length: callers handle L=0 before asking the catalogue (appendix G e-i).
"""

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

# Tag groups by range (appendix E a, INTEROP 1).
G_CONFIG = const(1)
G_UPGRADE = const(2)
G_STATISTICS = const(3)
G_MONITOR = const(4)
G_CONTROL = const(5)
G_PLATFORM = const(6)
G_MAKER = const(7)
G_SECURITY = const(8)

_REC = const(7)

# Every tag row of appendix E, sorted by tag.  Deviations from the table text:
#   0x0011 u32, 0x0026 u16 (INTEROP 8; same as the table).
#   0x1009 u32 (INTEROP 8: the table says 2 bytes but also "8 hex digits").
#   0xE001/E004/E007/E00A PIN/PUK: 1..8 bytes here, 4..8 digits or 8 bytes padded
#       with 0x00/'F' in validate() (INTEROP 8; the table says "8 digits").
#   0xE02A, 0xE038, 0xE03D: the table gives no length; u32 date (INTEROP 8).
#   0x300D/0x300E/0x3010 lists of u16 codes, 0x300F/0x4021 records of
#       id:u16|state:u8 (the table says "2xn" / "不定长" / nothing).
#   0x3001-0x3007, 0x4002-0x4017: the table gives no type; chosen from the text.
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
    b"\x00\x11" b"N=" b"\x00\x04" b"\x00"  # 0x0011 heartbeat period s, u32 (INTEROP 8)
    b"\x00\x12" b"S<" b"\x00\x14" b"\x00"  # 0x0012 USSD service number
    b"\x00\x13" b"S<" b"\x00\x20" b"\x00"  # 0x0013 application APN
    b"\x00\x14" b"N=" b"\x00\x04" b"\x00"  # 0x0014 backup DNS address
    b"\x00\x25" b"Tx" b"\x00\x02" b"\x02"  # 0x0025 core config tags, ascending
    b"\x00\x26" b"N=" b"\x00\x02" b"\x00"  # 0x0026 SMS wait s, u16 (INTEROP 8)
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
    b"\x10\x09" b"N=" b"\x00\x04" b"\x00"  # 0x1009 TRANS_ID, u32 (INTEROP 8; table says 2)
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
    b"\xe0\x01" b"S<" b"\x00\x08" b"\x01"  # 0xE001 PIN1 (INTEROP 8)
    b"\xe0\x02" b"B=" b"\x00\x10" b"\x00"  # 0xE002 PIN1 digest
    b"\xe0\x03" b"N=" b"\x00\x01" b"\x00"  # 0xE003 PIN1 enable
    b"\xe0\x04" b"S<" b"\x00\x08" b"\x01"  # 0xE004 PIN2 (INTEROP 8)
    b"\xe0\x05" b"B=" b"\x00\x10" b"\x00"  # 0xE005 PIN2 digest
    b"\xe0\x06" b"N=" b"\x00\x01" b"\x00"  # 0xE006 PIN2 enable
    b"\xe0\x07" b"S<" b"\x00\x08" b"\x01"  # 0xE007 PUK1 (INTEROP 8)
    b"\xe0\x08" b"B=" b"\x00\x10" b"\x00"  # 0xE008 PUK1 digest
    b"\xe0\x09" b"N=" b"\x00\x01" b"\x00"  # 0xE009 PUK1 enable
    b"\xe0\x0a" b"S<" b"\x00\x08" b"\x01"  # 0xE00A PUK2 (INTEROP 8)
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
    b"\xe0\x21" b"B=" b"\x00\x10" b"\x00"  # 0xE021 access digest (INTEROP 3)
    b"\xe0\x22" b"N=" b"\x00\x01" b"\x00"  # 0xE022 digest mode
    b"\xe0\x23" b"Tx" b"\x00\x02" b"\x00"  # 0xE023 command ids needing a digest
    b"\xe0\x24" b"Tx" b"\x00\x02" b"\x00"  # 0xE024 tags needing a digest
    b"\xe0\x25" b"S=" b"\x00\x08" b"\x01"  # 0xE025 uplink password
    b"\xe0\x26" b"B=" b"\x00\x10" b"\x00"  # 0xE026 uplink password digest
    b"\xe0\x27" b"D=" b"\x00\x04" b"\x00"  # 0xE027 uplink password expiry
    b"\xe0\x28" b"S=" b"\x00\x08" b"\x01"  # 0xE028 downlink password
    b"\xe0\x29" b"B=" b"\x00\x10" b"\x00"  # 0xE029 downlink password digest
    b"\xe0\x2a" b"D=" b"\x00\x04" b"\x00"  # 0xE02A downlink password expiry (INTEROP 8)
    b"\xe0\x31" b"N=" b"\x00\x01" b"\x00"  # 0xE031 encryption supported
    b"\xe0\x32" b"N=" b"\x00\x01" b"\x00"  # 0xE032 encryption mode
    b"\xe0\x33" b"Tx" b"\x00\x02" b"\x00"  # 0xE033 command ids to encrypt
    b"\xe0\x34" b"Tx" b"\x00\x02" b"\x00"  # 0xE034 tags to encrypt
    b"\xe0\x35" b"N=" b"\x00\x01" b"\x00"  # 0xE035 encryption algorithm
    b"\xe0\x36" b"S*" b"\x00\x01" b"\x01"  # 0xE036 base key
    b"\xe0\x37" b"S*" b"\x00\x01" b"\x01"  # 0xE037 base private key
    b"\xe0\x38" b"D=" b"\x00\x04" b"\x00"  # 0xE038 base key expiry (INTEROP 8)
    b"\xe0\x39" b"N=" b"\x00\x01" b"\x00"  # 0xE039 base key algorithm
    b"\xe0\x3a" b"B=" b"\x00\x10" b"\x00"  # 0xE03A base key digest
    b"\xe0\x3b" b"S*" b"\x00\x01" b"\x01"  # 0xE03B session key
    b"\xe0\x3c" b"S*" b"\x00\x01" b"\x01"  # 0xE03C session private key
    b"\xe0\x3d" b"D=" b"\x00\x04" b"\x00"  # 0xE03D session key expiry (INTEROP 8)
    b"\xe0\x3e" b"N=" b"\x00\x01" b"\x00"  # 0xE03E session key algorithm
    b"\xe0\x3f" b"B=" b"\x00\x10" b"\x00"  # 0xE03F session key digest
    b"\xe0\x40" b"B*" b"\x00\x01" b"\x01"  # 0xE040 encrypted session key
    b"\xe0\x41" b"N=" b"\x00\x01" b"\x00"  # 0xE041 reply on security failure
    b"\xe0\x42" b"B*" b"\x00\x01" b"\x01"  # 0xE042 fully encrypted content
    b"\xe0\x43" b"B*" b"\x00\x01" b"\x01"  # 0xE043 encrypted TLVs
    b"\xe0\x44" b"B*" b"\x00\x07" b"\x01"  # 0xE044 encrypted sub-packet, 7-byte head
)

# Value ranges of single-number tags (tag:u16, lo:u8, hi:u8), sorted by tag.
_RANGES = (
    b"\x01\x01\x00\xfe"  # 0x0101 baud index 0..254 (INTEROP 8)
    b"\x01\x03\x00\x02"  # 0x0103 stop bits
    b"\x01\x04\x00\x04"  # 0x0104 parity
    b"\x01\x05\x01\x64"  # 0x0105 frame gap 1..100
    b"\x10\x00\x00\x02"  # 0x1000 download protocol
    b"\x10\x0b\x00\x01"  # 0x100B forced upgrade
    b"\x20\x01\x00\x02"  # 0x2001 report policy
    b"\x20\x04\x00\x01"  # 0x2004 used this month
    b"\x20\x05\x00\x01"  # 0x2005 clear after report
    b"\x30\x07\x00\x64"  # 0x3007 signal 0..100
    b"\x30\x08\x00\x01"  # 0x3008 factory reset notice
    b"\x30\x0b\x00\x01"  # 0x300B alarm status
    b"\x30\x0c\x01\x03"  # 0x300C alarm type
    b"\x40\x01\x00\x0d"  # 0x4001 control command
    b"\x40\x02\x00\x05"  # 0x4002 connection mode
    b"\x40\x03\x00\x01"  # 0x4003 data transfer mode
    b"\x40\x05\x01\x04"  # 0x4005 collected data bearer
    b"\x40\x09\x00\x01"  # 0x4009 forced apply
    b"\xe0\x03\x00\x01"  # 0xE003 PIN1 enable
    b"\xe0\x06\x00\x01"  # 0xE006 PIN2 enable
    b"\xe0\x09\x00\x01"  # 0xE009 PUK1 enable
    b"\xe0\x0c\x00\x01"  # 0xE00C PUK2 enable
    b"\xe0\x0d\x00\x02"  # 0xE00D SIM binding
    b"\xe0\x22\x00\x05"  # 0xE022 digest mode
    b"\xe0\x31\x00\x01"  # 0xE031 encryption supported
    b"\xe0\x32\x00\x05"  # 0xE032 encryption mode
    b"\xe0\x35\x00\x04"  # 0xE035 algorithm (INTEROP 5)
    b"\xe0\x39\x00\x03"  # 0xE039 base key algorithm (INTEROP 5)
    b"\xe0\x3e\x00\x03"  # 0xE03E session key algorithm (INTEROP 5)
    b"\xe0\x41\x00\x01"  # 0xE041 reply on failure
)

_STATS_SETTINGS = (0x2011, 0x2012, 0x2015, 0x2016, 0x2019, 0x201A)


def _find(tag, table=_CAT, size=_REC):
    """Offset of tag's record in a sorted table, or -1."""
    lo = 0
    hi = len(table) // size
    while lo < hi:
        mid = (lo + hi) >> 1
        o = mid * size
        t = (table[o] << 8) | table[o + 1]
        if t < tag:
            lo = mid + 1
        elif t > tag:
            hi = mid
        else:
            return o
    return -1


def _rec(tag):
    o = _find(tag)
    if o < 0:
        raise BadTlv("unknown tag 0x%04X" % tag, tag)
    return o


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
    n = (c[o + 4] << 8) | c[o + 5]
    if c[o + 3] == L_MULT:
        n &= 0xFF
    return (c[o + 2], c[o + 3], n, c[o + 6])


def is_known(tag):
    return _find(tag) >= 0


def is_secret(tag):
    """True for passwords, PINs and keys that must never be logged in clear."""
    o = _find(tag)
    return o >= 0 and bool(_CAT[o + 6] & F_SECRET)


def max_count(tag):
    """Largest record count of an L_MULT tag (0: no limit), None for other tags."""
    o = _find(tag)
    if o < 0 or _CAT[o + 3] != L_MULT:
        return None
    return _CAT[o + 4]


def tags():
    """Every catalogue tag in ascending order (for tools and tests)."""
    c = _CAT
    for o in range(0, len(c), _REC):
        yield (c[o] << 8) | c[o + 1]


def group(tag):
    """Group of a tag by range (appendix E a, INTEROP 1), None outside every range."""
    if 0x0001 <= tag <= 0x0FFF:
        return G_CONFIG
    if 0x1000 <= tag <= 0x1FFF:  # 0x1000 is listed in appendix E c
        return G_UPGRADE
    if 0x2001 <= tag <= 0x2FFF:
        return G_STATISTICS
    if 0x3001 <= tag <= 0x3FFF:
        return G_MONITOR
    if 0x4001 <= tag <= 0x4FFF:
        return G_CONTROL
    if 0x5001 <= tag <= 0x7FFF:
        return G_PLATFORM
    if 0x8001 <= tag <= 0xDFFF:
        return G_MAKER
    if 0xE001 <= tag <= 0xFFFF:
        return G_SECURITY
    return None


def _check(o, tag, value_len):
    c = _CAT
    kind = c[o + 3]
    n = (c[o + 4] << 8) | c[o + 5]
    if kind == L_FIXED:
        if value_len == n:
            return
    elif value_len == 0 or value_len > 0xFFFF:
        pass
    elif kind == L_MAX:
        if value_len <= n:
            return
    elif kind == L_VAR:
        if value_len >= n:
            return
    else:  # L_MULT
        unit = n & 0xFF
        if value_len % unit == 0 and (n < 0x100 or value_len // unit <= n >> 8):
            return
    raise BadTlv("bad length %d for tag 0x%04X" % (value_len, tag), tag)


def check_length(tag, value_len, limit=None):
    """Raise BadTlv unless value_len is possible for tag (L=0 is not, except 0x4011).

    limit: optional bearer limit of the TLV value (appendix E a); exceeding it
    raises TooLongForBearer.
    """
    o = _rec(tag)
    if limit is not None and value_len > limit:
        raise TooLongForBearer("TLV 0x%04X: %d bytes, bearer allows %d" % (tag, value_len, limit))
    _check(o, tag, value_len)


def _bad(tag, what):
    raise BadValue("tag 0x%04X: %s" % (tag, what), tag)


def _digits(v, start, end):
    for i in range(start, end):
        if not 0x30 <= v[i] <= 0x39:
            return False
    return True


def _num(v, start, end):
    x = 0
    for i in range(start, end):
        x = x * 10 + v[i] - 0x30
    return x


def _pin(tag, v):
    # INTEROP 8: 4..8 ASCII digits; an 8-byte value may be right-padded with 0x00 or 'F'.
    n = len(v)
    if n == 8:
        while n > 4 and v[n - 1] in (0x00, 0x46):
            n -= 1
    if n < 4 or not _digits(v, 0, n):
        _bad(tag, "PIN/PUK must be 4..8 digits")


def _date12(tag, v):
    # 0x100A YYYYMMDDHHMM (appendix E c).
    if not _digits(v, 0, 12):
        _bad(tag, "date must be 12 digits")
    y = _num(v, 0, 4)
    mo = _num(v, 4, 6)
    d = _num(v, 6, 8)
    if not (1970 <= y <= 2099 and 1 <= mo <= 12 and _num(v, 8, 10) <= 23 and _num(v, 10, 12) <= 59):
        _bad(tag, "implausible date")
    days = b"\x1f\x1c\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"[mo - 1]
    if mo == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0):
        days = 29
    if not 1 <= d <= days:
        _bad(tag, "implausible date")


def validate(tag, value):
    """Raise BadTlv (unknown tag, bad length) or BadValue (value out of range) for a
    non-empty TLV value; return None when the value is acceptable."""
    o = _rec(tag)
    n = len(value)
    _check(o, tag, n)
    r = _find(tag, _RANGES, 4)
    if r >= 0:
        x = _uint(value)
        if x < _RANGES[r + 2] or x > _RANGES[r + 3]:
            _bad(tag, "value %d out of range" % x)
        return
    v = value
    if _CAT[o + 6] & F_ASCENDING:
        # appendix E b: "按TAG升序排列"
        prev = -1
        for i in range(0, n, 2):
            t = (v[i] << 8) | v[i + 1]
            if t <= prev:
                _bad(tag, "tags not ascending")
            prev = t
    elif tag == 0x0102:
        if v[0] not in (0, 5, 6, 7, 8):
            _bad(tag, "data bits")
    elif tag == 0x002A or tag == 0x002B:
        if _uint(v[0:4]) > _uint(v[4:8]):
            _bad(tag, "min retry gap above max")
    elif tag == 0x0107:
        for i in range(0, n, 4):
            if not 1 <= v[i] <= 5 or v[i + 1] > 2:
                _bad(tag, "bad bearer or unit")
    elif tag == 0x100A:
        _date12(tag, v)
    elif tag in _STATS_SETTINGS:
        if v[0] > 1 or v[3] > 6:
            _bad(tag, "bad switch or unit")
    elif tag == 0x300F or tag == 0x4021:
        top = 2 if tag == 0x300F else 1
        for i in range(2, n, 3):
            if v[i] > top:
                _bad(tag, "bad peripheral state")
    elif tag == 0x3012:
        if v[4] > 5:
            _bad(tag, "bad failure reason")
    elif tag == 0x4006:
        if v[0] > 1 or 3 < v[1] < 0xA0:
            _bad(tag, "bad transport or protocol")
    elif tag == 0x4010:
        if v[0] > 2:
            _bad(tag, "bad result")
    elif tag == 0x4008 or tag == 0xE044:
        if v[6] > 3:
            _bad(tag, "bad sub-packet operation")
    elif tag == 0xE020:
        if v[0] & 1:
            _bad(tag, "lowest bit must be 0")
    elif tag == 0xE001 or tag == 0xE004 or tag == 0xE007 or tag == 0xE00A:
        _pin(tag, v)
    elif tag == 0xE00E or tag == 0xE010:
        # IMEI: 15 digits + 0x00 (INTEROP 1), or 16 digits (IMEISV).
        if not _digits(v, 0, 15) or not (v[15] == 0 or 0x30 <= v[15] <= 0x39):
            _bad(tag, "bad IMEI")
    elif tag == 0xE012 or tag == 0xE014:
        if not _digits(v, 0, 15):
            _bad(tag, "bad IMSI")
    elif tag == 0xE025 or tag == 0xE028:
        # INTEROP 8: exactly 8 visible ASCII characters.
        for b in v:
            if not 0x21 <= b <= 0x7E:
                _bad(tag, "password must be visible ASCII")
    elif tag == 0xE036 or tag == 0xE037 or tag == 0xE03B or tag == 0xE03C:
        # appendix E g, INTEROP 8: ASCII letters and digits only.
        for b in v:
            if not (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A):
                _bad(tag, "key must be letters and digits")


def decode_value(tag, value):
    """Python value of a TLV value for tools: None for L=0; int for 1/2/4-byte
    numbers and dates; a list of ints for tag lists and code lists; bytes otherwise
    (also for tags outside the catalogue).  Raises BadTlv on an impossible length."""
    n = len(value)
    if n == 0:
        return None
    o = _find(tag)
    if o < 0:
        return bytes(value)
    _check(o, tag, n)
    c = _CAT
    ty = c[o + 2]
    if ty == T_DATE or (ty == T_NUM and c[o + 3] == L_FIXED and n in (1, 2, 4)):
        return _uint(value)
    if ty == T_TAGS or c[o + 6] & F_CODES:
        return [(value[i] << 8) | value[i + 1] for i in range(0, n, 2)]
    return bytes(value)


def encode_value(tag, pyvalue):
    """TLV value bytes of a Python value: int (numbers, dates), list of u16, bytes or
    str.  Shorter str/bytes of a fixed-size non-secret string tag are right-padded
    with 0x00 (INTEROP 1).  None or an empty value gives b"" (L=0).  The length is
    checked for catalogue tags; call validate() for the value rules."""
    if pyvalue is None:
        return b""
    o = _find(tag)
    c = _CAT
    if isinstance(pyvalue, int):
        if o < 0:
            raise BadTlv("unknown tag 0x%04X" % tag, tag)
        n = (c[o + 4] << 8) | c[o + 5]
        if c[o + 2] not in (T_NUM, T_DATE) or c[o + 3] != L_FIXED or not 0 < n <= 8:
            _bad(tag, "not a number tag")
        if pyvalue < 0 or pyvalue >> (8 * n):
            _bad(tag, "number out of range")
        out = bytearray(n)
        for i in range(n):
            out[n - 1 - i] = (pyvalue >> (8 * i)) & 0xFF
        out = bytes(out)
    elif isinstance(pyvalue, (list, tuple)):
        out = bytearray(2 * len(pyvalue))
        for i in range(len(pyvalue)):
            x = pyvalue[i]
            if not 0 <= x <= 0xFFFF:
                _bad(tag, "list item out of range")
            out[2 * i] = x >> 8
            out[2 * i + 1] = x & 0xFF
        out = bytes(out)
    elif isinstance(pyvalue, str):
        out = pyvalue.encode()
    elif isinstance(pyvalue, (bytes, bytearray, memoryview)):
        out = bytes(pyvalue)
    else:
        _bad(tag, "unsupported value type")
    if o < 0 or not out:
        return out
    n = (c[o + 4] << 8) | c[o + 5]
    if c[o + 2] == T_STR and c[o + 3] == L_FIXED and not c[o + 6] & F_SECRET and len(out) < n:
        out = out + bytes(n - len(out))
    _check(o, tag, len(out))
    return out
