-- Wireshark dissector for WMMP-T, China Mobile's M2M terminal protocol, as this
-- project puts it on the wire (docs/PROTOCOL.md): UDP (one datagram, one message)
-- and TCP (the stream cut by total_length), on the ports set in the preferences.
--
-- Shows the 28-byte header with the security bits by name, the command, its fixed
-- part, every TLV by tag and name, sub-packets (0x4008, E044; put back together
-- when the set is complete), encrypted content (E042, E043; not decrypted), and
-- the E021 digest, checked when the IMEI, IMSI and passwords are given in the
-- preferences.  Malformed messages are marked with expert info.
--
-- Load it with `wireshark -X lua_script:tools/wireshark/wmmp.lua`, or copy this one
-- file into the personal Lua plugins folder (tools/wireshark/README.md).  Runs on
-- Wireshark's Lua 5.2 (bit32) and on 5.3 / 5.4; tested with tshark 4.0.  The tables
-- below are generated from the Python package by tools/wireshark/gen_tables.py.

-- BEGIN GENERATED TABLES (tools/wireshark/gen_tables.py; do not edit by hand)
local T = {}
T.HEADER_SIZE = 28
T.TLV_HEADER = 4
T.DIGEST_TAG = 0xE021
T.DIGEST_SIZE = 16
T.TAG_FULL = 0xE042
T.TAG_PARTIAL = 0xE043
T.TAG_SUBPACKET = 0x4008
T.TAG_ENC_SUBPACKET = 0xE044
T.SUBPACKET_HEADER = 7
T.PACKET_TLV_MAX = 1024
T.SEC_DIGEST = 0x20
T.SEC_FULL_OR_SUBPACKET = 0x10
T.SEC_FEEDBACK = 0x0F
T.REGISTER = 0x0008
T.REGISTER_ACK = 0x8008
T.LOGIN = 0x0001
T.LOGIN_ACK = 0x8001
T.FILE_REQ_ACK = 0x800D
T.commands = {
  [0x0001] = "LOGIN",
  [0x0002] = "LOGOUT",
  [0x0003] = "HEART_BEAT",
  [0x0004] = "TRANSPARENT_DATA",
  [0x0005] = "CONFIG_GET",
  [0x0006] = "CONFIG_SET",
  [0x0007] = "CONFIG_TRAP",
  [0x0008] = "REGISTER",
  [0x000A] = "CONFIG_REQ",
  [0x000B] = "REMOTE_CTRL",
  [0x000C] = "DOWNLOAD_INFO",
  [0x000D] = "FILE_REQ",
  [0x000E] = "SECURITY_CONFIG",
  [0x000F] = "TRANSPARENT_CMD",
  [0x8001] = "LOGIN_ACK",
  [0x8002] = "LOGOUT_ACK",
  [0x8003] = "HEART_BEAT_ACK",
  [0x8004] = "TRANSPARENT_DATA_ACK",
  [0x8005] = "CONFIG_GET_ACK",
  [0x8006] = "CONFIG_SET_ACK",
  [0x8007] = "CONFIG_TRAP_ACK",
  [0x8008] = "REGISTER_ACK",
  [0x800A] = "CONFIG_REQ_ACK",
  [0x800B] = "REMOTE_CTRL_ACK",
  [0x800C] = "DOWNLOAD_INFO_ACK",
  [0x800D] = "FILE_REQ_ACK",
  [0x800E] = "SECURITY_CONFIG_ACK",
  [0x800F] = "TRANSPARENT_CMD_ACK",
}
-- fixed part of each command, in order: {field name, struct code}
-- (B, H, I: u8, u16, u32 big-endian; Ns: N bytes); FILE_REQ_ACK is then
-- followed by block_size bytes of block
T.layouts = {
  [0x0001] = {{"software_version", "8s"}, {"config_crc32", "I"}},
  [0x0002] = {{"reason", "B"}},
  [0x0003] = {},
  [0x0004] = {{"crc16", "H"}},
  [0x0005] = {},
  [0x0006] = {},
  [0x0007] = {},
  [0x0008] = {{"operation", "B"}, {"imei", "16s"}, {"imsi", "15s"}},
  [0x000A] = {},
  [0x000B] = {},
  [0x000C] = {},
  [0x000D] = {{"trans_id", "I"}, {"status", "B"}, {"read_point", "I"}, {"block_size", "H"}},
  [0x000E] = {{"operation", "B"}},
  [0x000F] = {},
  [0x8001] = {{"result", "B"}, {"curtime", "I"}},
  [0x8002] = {},
  [0x8003] = {},
  [0x8004] = {{"result", "B"}},
  [0x8005] = {{"result", "B"}},
  [0x8006] = {{"result", "B"}},
  [0x8007] = {{"result", "B"}},
  [0x8008] = {{"result", "B"}, {"terminal_id", "16s"}},
  [0x800A] = {{"result", "B"}},
  [0x800B] = {{"result", "B"}},
  [0x800C] = {{"result", "B"}},
  [0x800D] = {{"trans_id", "I"}, {"status", "B"}, {"crc16", "H"}, {"read_point", "I"}, {"block_size", "H"}},
  [0x800E] = {{"result", "B"}},
  [0x800F] = {{"result", "B"}},
}
T.field_codes = {
  block_size = "H",
  config_crc32 = "I",
  crc16 = "H",
  curtime = "I",
  imei = "16s",
  imsi = "15s",
  operation = "B",
  read_point = "I",
  reason = "B",
  result = "B",
  software_version = "8s",
  status = "B",
  terminal_id = "16s",
  trans_id = "I",
}
-- fixed fields whose value is a code of T.codes (appendix G)
T.field_tables = {
  [0x0002] = {reason = "logout"},
  [0x0008] = {operation = "register_op"},
  [0x000D] = {status = "file_req"},
  [0x000E] = {operation = "security_op"},
  [0x8001] = {result = "login_ack"},
  [0x8004] = {result = "transparent_ack"},
  [0x8005] = {result = "ack"},
  [0x8006] = {result = "ack"},
  [0x8007] = {result = "ack"},
  [0x8008] = {result = "register_ack"},
  [0x800A] = {result = "ack"},
  [0x800B] = {result = "ack"},
  [0x800C] = {result = "download_ack"},
  [0x800D] = {status = "file_req_ack"},
  [0x800E] = {result = "security_ack"},
  [0x800F] = {result = "ack"},
}
T.hex_fields = {config_crc32 = true, crc16 = true}
T.date_fields = {curtime = true}
-- security byte (table A-2), high bit first: {name, bit, meaning}
T.flags = {
  {"supports_encryption", 0x80, "terminal supports encryption (uplink only)"},
  {"encryption_enabled", 0x40, "terminal has encryption enabled (uplink only)"},
  {"digest", 0x20, "this message carries an E021 digest"},
  {"full_or_subpacket", 0x10, "content travels inside E042 / 0x4008 / E044"},
  {"prev_digest_failed", 0x08, "the previous message from the peer failed the digest check"},
  {"prev_digest_missing", 0x04, "the previous message from the peer lacked a required digest"},
  {"prev_decrypt_failed", 0x02, "the previous message from the peer failed to decrypt"},
  {"prev_overflow", 0x01, "the previous message from the peer was too long to process"},
}
-- appendix E tags: {name, type, length kind, n, max count, flags, description}
-- type S string, N number, D date, B binary, T u16 list, 0 none, R reserved;
-- kind = exactly n bytes, < 1..n, * at least n, x a multiple of the unit n
-- (at most `max count` of them, 0: no limit); flags 1 secret, 4 u16 code list
T.tags = {
  [0x0001] = {"DIAL_NUMBER", "S", "<", 16, 0, 0, "Packet bearer dial-up number"},
  [0x0002] = {"APN", "S", "<", 32, 0, 0, "Access point name (APN) of the M2M platform"},
  [0x0003] = {"DIAL_USER", "S", "<", 32, 0, 0, "Packet bearer dial-up user name"},
  [0x0004] = {"DIAL_PASSWORD", "S", "<", 32, 0, 1, "Packet bearer dial-up password"},
  [0x0005] = {"SMS_CENTER", "S", "<", 20, 0, 0, "SMS centre number"},
  [0x0006] = {"TRANSPORT_KEY", "S", "*", 1, 0, 1, "Transport key of the application server"},
  [0x0007] = {"PLATFORM_SMS_NUMBER", "S", "<", 20, 0, 0, "SMS service number of the M2M platform"},
  [0x0008] = {"PLATFORM_URL", "S", "<", 64, 0, 0, "URL of the M2M platform"},
  [0x0009] = {"PLATFORM_IP", "N", "=", 4, 0, 0, "IP address of the M2M platform"},
  [0x000A] = {"PLATFORM_PORTS", "N", "=", 4, 0, 0, "Ports of the M2M platform: bytes 1-2 UDP, bytes 3-4 TCP, 0 = not set"},
  [0x000B] = {"APP_SMS_CENTER", "S", "<", 20, 0, 0, "SMS centre number of the application"},
  [0x000C] = {"APP_SERVER_URL", "S", "<", 64, 0, 0, "URL of the application server"},
  [0x000D] = {"APP_SERVER_IP", "N", "=", 4, 0, 0, "IP address of the application server (unused)"},
  [0x000E] = {"APP_SERVER_PORTS", "N", "=", 4, 0, 0, "Ports of the application server: UDP, TCP (unused)"},
  [0x000F] = {"RESERVED_000F", "R", "*", 1, 0, 0, "Reserved (backup application server URL, backup alarm channel)"},
  [0x0010] = {"DNS", "N", "=", 4, 0, 0, "DNS server address"},
  [0x0011] = {"HEARTBEAT_PERIOD", "N", "=", 4, 0, 0, "Heartbeat period in seconds, 0 = no heartbeat, default 30"},
  [0x0012] = {"USSD_NUMBER", "S", "<", 20, 0, 0, "USSD service number of the application"},
  [0x0013] = {"APP_APN", "S", "<", 32, 0, 0, "Access point name (APN) of the M2M application"},
  [0x0014] = {"DNS_BACKUP", "N", "=", 4, 0, 0, "Backup DNS server address"},
  [0x0025] = {"CORE_CONFIG_TAGS", "T", "x", 2, 0, 2, "Tags of the core parameters kept in step with the platform at login, ascending"},
  [0x0026] = {"SMS_WAIT", "N", "=", 2, 0, 0, "SMS receive timeout in seconds"},
  [0x0027] = {"LOGIN_RETRIES", "N", "=", 1, 0, 0, "Maximum login retries: 0 none, 1..254 times, 0xFF forever"},
  [0x0028] = {"EC_CODE", "N", "*", 1, 0, 0, "Default service code (EC code) of the EC/SI owning the terminal"},
  [0x0029] = {"REGISTER_RETRIES", "N", "=", 1, 0, 0, "Maximum register retries, 0 = forever"},
  [0x002A] = {"LOGIN_RETRY_GAP", "B", "=", 8, 0, 0, "Login retry interval: minimum and maximum seconds (u32 each)"},
  [0x002B] = {"REGISTER_RETRY_GAP", "B", "=", 8, 0, 0, "Register retry interval: minimum and maximum seconds (u32 each)"},
  [0x002C] = {"USER_PARAM_TAGS", "T", "x", 2, 0, 2, "Tags of user-defined parameter TLVs kept over power loss, ascending"},
  [0x002D] = {"USER_STATE_TAGS", "T", "x", 2, 0, 2, "Tags of user-defined state/temporary TLVs not kept over power loss, ascending"},
  [0x002E] = {"MSISDN", "S", "*", 1, 0, 0, "MSISDN (phone number)"},
  [0x0101] = {"SERIAL_BAUD", "N", "=", 2, 0, 0, "Local serial port baud rate index: 0 9600, 1..10 300..115200, 11..254 custom"},
  [0x0102] = {"SERIAL_DATA_BITS", "N", "=", 1, 0, 0, "Local serial port data bits: 0 = 8, else 5..8"},
  [0x0103] = {"SERIAL_STOP_BITS", "N", "=", 1, 0, 0, "Local serial port stop bits: 0 one, 1 one and a half, 2 two"},
  [0x0104] = {"SERIAL_PARITY", "N", "=", 1, 0, 0, "Local serial port parity: 0 none, 1 odd, 2 even, 3 mark, 4 space"},
  [0x0105] = {"SERIAL_FRAME_GAP", "N", "=", 2, 0, 0, "Local serial port scan interval in 100 ms units, 1..100"},
  [0x0106] = {"RESERVED_0106", "R", "=", 2, 0, 0, "Reserved"},
  [0x0107] = {"ACK_TIMEOUTS", "B", "x", 4, 0, 0, "Response timeout of messages other than register/login: bearer, unit, value (4xN)"},
  [0x0108] = {"MAX_RETRANSMISSIONS", "N", "=", 1, 0, 0, "Maximum retransmissions of messages other than register/login: 0 none, 0xFF forever"},
  [0x0109] = {"THRESHOLD", "B", "=", 3, 0, 0, "Alarm threshold: kind (1 speed, 2 load, 3 current, other customer) and 2-byte value"},
  [0x1000] = {"DOWNLOAD_PROTOCOL", "N", "=", 1, 0, 0, "Download protocol: 0 M2M protocol, 1 HTTP, 2 FTP"},
  [0x1001] = {"DOWNLOAD_URL", "S", "*", 1, 0, 0, "URL of the download server (DownAddURL of DOWNLOAD_INFO)"},
  [0x1002] = {"DOWNLOAD_SERVER_IP", "S", "*", 1, 0, 0, "IP address of the download server"},
  [0x1003] = {"DOWNLOAD_SERVER_PORT", "N", "=", 2, 0, 0, "Port of the download server"},
  [0x1004] = {"DOWNLOAD_PASSWORD", "S", "*", 1, 0, 1, "Login password of the download server"},
  [0x1005] = {"DOWNLOAD_VERSION", "S", "*", 1, 0, 0, "Version of the file to download"},
  [0x1006] = {"DOWNLOAD_FILE_SIZE", "N", "=", 4, 0, 0, "Total length of the file to download"},
  [0x1007] = {"DOWNLOAD_CRC16", "N", "=", 2, 0, 0, "CRC16 of the whole file"},
  [0x1008] = {"DOWNLOAD_CRC32", "N", "=", 4, 0, 0, "CRC32 of the whole file"},
  [0x1009] = {"UPGRADE_TRANS_ID", "N", "=", 4, 0, 0, "Upgrade transaction ID (TRANS_ID)"},
  [0x100A] = {"DOWNLOAD_RELEASE_DATE", "S", "=", 12, 0, 0, "Release date of the file, YYYYMMDDHHMM"},
  [0x100B] = {"FORCE_UPGRADE", "N", "=", 1, 0, 0, "Forced upgrade: 0 terminal decides when, 1 download and upgrade at once"},
  [0x100C] = {"CURRENT_VERSION", "S", "=", 8, 0, 0, "Current software version"},
  [0x2001] = {"STATS_REPORT_POLICY", "N", "=", 1, 0, 0, "Statistics report policy: 0 at a set time, 1 periodic, 2 first use each month"},
  [0x2002] = {"STATS_REPORT_TIME", "D", "=", 4, 0, 0, "Time of the timed statistics report"},
  [0x2003] = {"STATS_REPORT_PERIOD", "N", "=", 4, 0, 0, "Period of the periodic statistics report in seconds"},
  [0x2004] = {"SERVICE_USED_THIS_MONTH", "N", "=", 1, 0, 0, "M2M service used this month: 0 no, 1 yes"},
  [0x2005] = {"STATS_CLEAR_AFTER_REPORT", "N", "=", 1, 0, 0, "Clear statistics after reporting: 0 no, 1 yes"},
  [0x2006] = {"STATS_START_TIME", "D", "=", 4, 0, 0, "Start time of the statistics (0 = since last clear, all 0xFF = no statistics)"},
  [0x2007] = {"STATS_END_TIME", "D", "=", 4, 0, 0, "End time of the statistics (all 0xFF = no end)"},
  [0x2008] = {"SMS_SENT", "N", "=", 4, 0, 0, "SMS sent successfully"},
  [0x2009] = {"SMS_SEND_FAILED", "N", "=", 4, 0, 0, "SMS that failed to send"},
  [0x200A] = {"SMS_RECEIVED", "N", "=", 4, 0, 0, "SMS received"},
  [0x200B] = {"PACKET_BYTES", "N", "=", 4, 0, 0, "Packet bearer traffic in bytes"},
  [0x200C] = {"USSD_SENT", "N", "=", 4, 0, 0, "USSD messages sent successfully"},
  [0x200D] = {"USSD_SEND_FAILED", "N", "=", 4, 0, 0, "USSD messages that failed to send"},
  [0x200E] = {"USSD_RECEIVED", "N", "=", 4, 0, 0, "USSD messages received"},
  [0x2011] = {"SMS_STATS_SETTING", "B", "=", 12, 0, 0, "SMS statistics setting: switch, period value, period unit, start, end"},
  [0x2012] = {"SMS_STATS_REPORT", "B", "=", 12, 0, 0, "SMS statistics automatic report: switch, period value, period unit, start, end"},
  [0x2013] = {"M2M_SMS_STATS", "B", "x", 8, 90, 0, "M2M interaction SMS statistics: time, sent, received per record (8xn, n<=90)"},
  [0x2014] = {"SERVICE_SMS_STATS", "B", "x", 8, 90, 0, "Service interaction SMS statistics: time, sent, received per record (8xn, n<=90)"},
  [0x2015] = {"PACKET_STATS_SETTING", "B", "=", 12, 0, 0, "Packet bearer statistics setting: switch, period value, period unit, start, end"},
  [0x2016] = {"PACKET_STATS_REPORT", "B", "=", 12, 0, 0, "Packet bearer statistics automatic report: switch, period, unit, start, end"},
  [0x2017] = {"M2M_PACKET_STATS", "B", "x", 12, 90, 0, "M2M interaction packet traffic: time, bytes sent, bytes received (12xn, n<=90)"},
  [0x2018] = {"SERVICE_PACKET_STATS", "B", "x", 12, 90, 0, "Service interaction packet traffic: time, bytes sent, bytes received (12xn, n<=90)"},
  [0x2019] = {"USSD_STATS_SETTING", "B", "=", 12, 0, 0, "USSD statistics setting: switch, period value, period unit, start, end"},
  [0x201A] = {"USSD_STATS_REPORT", "B", "=", 12, 0, 0, "USSD statistics automatic report: switch, period value, period unit, start, end"},
  [0x201B] = {"M2M_USSD_STATS", "B", "x", 8, 90, 0, "M2M interaction USSD statistics: time, sent, received per record (8xn, n<=90)"},
  [0x201C] = {"SERVICE_USSD_STATS", "B", "x", 8, 90, 0, "Service interaction USSD statistics: time, sent, received per record (8xn, n<=90)"},
  [0x3001] = {"PROTOCOL_VERSION", "N", "=", 2, 0, 0, "Protocol version: major byte, minor byte; the major versions must match"},
  [0x3002] = {"TERMINAL_SERIAL", "S", "=", 16, 0, 0, "Terminal serial number"},
  [0x3004] = {"SOFTWARE_VERSION", "S", "=", 8, 0, 0, "Terminal software version"},
  [0x3005] = {"LAST_HEARTBEAT_DELAY", "N", "=", 4, 0, 0, "Delay of the last heartbeat in seconds"},
  [0x3006] = {"CELL_ID", "N", "=", 4, 0, 0, "Cell ID of the terminal: LAC (high 16 bits) and CI (low 16 bits)"},
  [0x3007] = {"SIGNAL_STRENGTH", "N", "=", 1, 0, 0, "Local signal strength, 0..100"},
  [0x3008] = {"FACTORY_RESET_NOTICE", "N", "=", 1, 0, 0, "Parameter initialisation notice: 0 off, 1 on (restore factory defaults)"},
  [0x3009] = {"SYSTEM_TIME", "D", "=", 4, 0, 0, "System time"},
  [0x300A] = {"RESERVED_300A", "R", "*", 1, 0, 0, "Reserved"},
  [0x300B] = {"ALARM_STATUS", "N", "=", 1, 0, 0, "Alarm status: 0 normal, 1 alarm"},
  [0x300C] = {"ALARM_TYPE", "N", "=", 1, 0, 0, "Alarm type: 1 communication, 2 terminal hardware, 3 terminal software"},
  [0x300D] = {"ALARM_CODES", "B", "x", 2, 0, 4, "Alarm codes (u16 each); several causes may be reported at once"},
  [0x300E] = {"RESTORED_ALARMS", "B", "x", 2, 0, 4, "Codes of the alarms that have cleared (u16 each)"},
  [0x300F] = {"PERIPHERAL_STATES", "B", "x", 3, 0, 0, "Peripheral states: device ID (u16) and 0 disabled, 1 enabled, 2 faulty"},
  [0x3010] = {"PERIPHERALS", "B", "x", 2, 0, 4, "Peripherals supported by the terminal (u16 codes)"},
  [0x3011] = {"LOST_PACKETS", "N", "=", 4, 0, 0, "Lost packets reported by the terminal"},
  [0x3012] = {"DOWNLOAD_FAILURE", "B", "=", 5, 0, 0, "Download/upgrade failure: transaction ID (u32) and failure reason"},
  [0x4001] = {"CONTROL_COMMAND", "N", "=", 1, 0, 0, "Control command, sent in REMOTE_CTRL"},
  [0x4002] = {"CONNECTION_MODE", "N", "=", 1, 0, 0, "Current connection mode to the platform: UDP/TCP short/long, SMS, USSD"},
  [0x4003] = {"FLOW_MODE", "N", "=", 1, 0, 0, "Data transfer mode: 0 management and service flows together, 1 separate"},
  [0x4005] = {"COLLECT_BEARER", "N", "=", 1, 0, 0, "Bearer of collected data: 1 SMS, 2 USSD, 3 packet, 4 other"},
  [0x4006] = {"APP_TRANSPORT", "B", "=", 2, 0, 0, "Application transport (0 UDP, 1 TCP) and protocol (transparent, HTTP, FTP, SOAP)"},
  [0x4007] = {"USER_DATA", "B", "*", 1, 0, 0, "User data"},
  [0x4008] = {"SUBPACKET", "B", "*", 7, 0, 0, "Sub-packet parameter (not fully encrypted): trans ID, total, index, operation, data"},
  [0x4009] = {"FORCE_APPLY", "N", "=", 1, 0, 0, "Platform configuration option: 0 not forced, 1 forced, apply at once"},
  [0x4010] = {"CONFIG_RESULT", "B", "=", 5, 0, 0, "Result of applying configuration or control (0 done, 1 deferred, 2 failed) and seq"},
  [0x4011] = {"LOCAL_CONFIG_APPLIED", "0", "=", 0, 0, 0, "Notice that locally entered configuration has been applied (no value)"},
  [0x4012] = {"DEST_TERMINAL", "S", "=", 16, 0, 0, "Serial number of the destination terminal for forwarded data"},
  [0x4013] = {"SOURCE_TERMINAL", "S", "=", 16, 0, 0, "Serial number of the source terminal of forwarded data"},
  [0x4014] = {"DEST_EC", "S", "*", 1, 0, 0, "EC code of the destination application for forwarded data"},
  [0x4015] = {"SOURCE_EC", "S", "*", 1, 0, 0, "EC code of the source application of forwarded data"},
  [0x4016] = {"TRANSPARENT_COMMAND", "B", "*", 1, 0, 0, "Fixed parameters of a transparent command"},
  [0x4017] = {"CONFIG_CRC32", "N", "=", 4, 0, 0, "CRC32 of the configuration TLVs in ascending tag order"},
  [0x4021] = {"PERIPHERAL_CONTROL", "B", "x", 3, 0, 0, "Peripheral control: device ID (u16) and 0 disable, 1 enable"},
  [0xE001] = {"PIN1", "S", "<", 8, 0, 1, "SIM PIN1"},
  [0xE002] = {"PIN1_DIGEST", "B", "=", 16, 0, 0, "Digest of SIM PIN1 (serial + IMEI + IMSI + PIN1)"},
  [0xE003] = {"PIN1_ENABLE", "N", "=", 1, 0, 0, "SIM PIN1 enable: 0 off, 1 on"},
  [0xE004] = {"PIN2", "S", "<", 8, 0, 1, "SIM PIN2"},
  [0xE005] = {"PIN2_DIGEST", "B", "=", 16, 0, 0, "Digest of SIM PIN2 (serial + IMEI + IMSI + PIN2)"},
  [0xE006] = {"PIN2_ENABLE", "N", "=", 1, 0, 0, "SIM PIN2 enable: 0 off, 1 on"},
  [0xE007] = {"PUK1", "S", "<", 8, 0, 1, "SIM PUK1"},
  [0xE008] = {"PUK1_DIGEST", "B", "=", 16, 0, 0, "Digest of SIM PUK1 (serial + IMEI + IMSI + PUK1)"},
  [0xE009] = {"PUK1_ENABLE", "N", "=", 1, 0, 0, "SIM PUK1 enable: 0 off, 1 on"},
  [0xE00A] = {"PUK2", "S", "<", 8, 0, 1, "SIM PUK2"},
  [0xE00B] = {"PUK2_DIGEST", "B", "=", 16, 0, 0, "Digest of SIM PUK2 (serial + IMEI + IMSI + PUK2)"},
  [0xE00C] = {"PUK2_ENABLE", "N", "=", 1, 0, 0, "SIM PUK2 enable: 0 off, 1 on"},
  [0xE00D] = {"SIM_BINDING", "N", "=", 1, 0, 0, "SIM binding: 0 off, 1 on, 2 platform clears all SIM security parameters"},
  [0xE00E] = {"IMEI", "S", "=", 16, 0, 0, "IMEI"},
  [0xE00F] = {"IMEI_DIGEST", "B", "=", 16, 0, 0, "Digest of the IMEI"},
  [0xE010] = {"OLD_IMEI", "S", "=", 16, 0, 0, "Previous IMEI"},
  [0xE011] = {"OLD_IMEI_DIGEST", "B", "=", 16, 0, 0, "Digest of the previous IMEI"},
  [0xE012] = {"IMSI", "S", "=", 15, 0, 0, "IMSI"},
  [0xE013] = {"IMSI_DIGEST", "B", "=", 16, 0, 0, "Digest of the IMSI"},
  [0xE014] = {"OLD_IMSI", "S", "=", 15, 0, 0, "Previous IMSI"},
  [0xE015] = {"OLD_IMSI_DIGEST", "B", "=", 16, 0, 0, "Digest of the previous IMSI"},
  [0xE016] = {"BINDING_DIGEST", "B", "=", 16, 0, 0, "Digest of serial + IMEI + IMSI (terminal-SIM binding)"},
  [0xE017] = {"OLD_BINDING_DIGEST", "B", "=", 16, 0, 0, "Previous binding: digest of serial + previous IMEI + previous IMSI"},
  [0xE018] = {"PIN1_ERRORS", "N", "=", 2, 0, 0, "PIN1 error limit and error count"},
  [0xE019] = {"PIN2_ERRORS", "N", "=", 2, 0, 0, "PIN2 error limit and error count"},
  [0xE01A] = {"PUK1_ERRORS", "N", "=", 2, 0, 0, "PUK1 error limit and error count"},
  [0xE01B] = {"PUK2_ERRORS", "N", "=", 2, 0, 0, "PUK2 error limit and error count"},
  [0xE020] = {"LOCALLY_CLEARED", "N", "=", 1, 0, 0, "Secrets cleared locally by hand: PIN1, PIN2, PUK1, PUK2, up/down password, base key"},
  [0xE021] = {"ACCESS_DIGEST", "B", "=", 16, 0, 0, "Access digest of the message"},
  [0xE022] = {"DIGEST_MODE", "N", "=", 1, 0, 0, "Access digest use: 0 none, 1 all, 2..5 by command and/or tag"},
  [0xE023] = {"DIGEST_COMMANDS", "T", "x", 2, 0, 0, "Command IDs of the requests that need an access digest"},
  [0xE024] = {"DIGEST_TAGS", "T", "x", 2, 0, 0, "Tags whose messages need an access digest"},
  [0xE025] = {"UPLINK_PASSWORD", "S", "=", 8, 0, 1, "Uplink access password"},
  [0xE026] = {"UPLINK_PASSWORD_DIGEST", "B", "=", 16, 0, 0, "Digest of the uplink password (TLV E025 + TLV E027)"},
  [0xE027] = {"UPLINK_PASSWORD_EXPIRY", "D", "=", 4, 0, 0, "Expiry of the uplink password"},
  [0xE028] = {"DOWNLINK_PASSWORD", "S", "=", 8, 0, 1, "Downlink access password"},
  [0xE029] = {"DOWNLINK_PASSWORD_DIGEST", "B", "=", 16, 0, 0, "Digest of the downlink password (TLV E028 + TLV E02A)"},
  [0xE02A] = {"DOWNLINK_PASSWORD_EXPIRY", "D", "=", 4, 0, 0, "Expiry of the downlink password"},
  [0xE031] = {"ENCRYPTION_SUPPORTED", "N", "=", 1, 0, 0, "Terminal supports encryption: 0 no, 1 yes"},
  [0xE032] = {"ENCRYPTION_MODE", "N", "=", 1, 0, 0, "Message encryption use: 0 none, 1 all, 2..5 by command and/or tag"},
  [0xE033] = {"ENCRYPTED_COMMANDS", "T", "x", 2, 0, 0, "Command IDs of the requests to encrypt"},
  [0xE034] = {"ENCRYPTED_TAGS", "T", "x", 2, 0, 0, "Tags whose messages are encrypted"},
  [0xE035] = {"ENCRYPTION_ALGORITHM", "N", "=", 1, 0, 0, "Encryption algorithm: 0 none, 1 DES, 2 3DES, 3 AES, 4 RSA"},
  [0xE036] = {"BASE_KEY", "S", "*", 1, 0, 1, "Base key (letters and digits); decrypts the session key"},
  [0xE037] = {"BASE_PRIVATE_KEY", "S", "*", 1, 0, 1, "Private part of the base key (asymmetric ciphers only)"},
  [0xE038] = {"BASE_KEY_EXPIRY", "D", "=", 4, 0, 0, "Expiry of the base key"},
  [0xE039] = {"BASE_KEY_ALGORITHM", "N", "=", 1, 0, 0, "Algorithm of the base key: 0 DES, 1 3DES, 2 AES, 3 RSA"},
  [0xE03A] = {"BASE_KEY_DIGEST", "B", "=", 16, 0, 0, "Digest of the base key information (TLV E036 + TLV E038)"},
  [0xE03B] = {"SESSION_KEY", "S", "*", 1, 0, 1, "Session key (letters and digits); encrypts the session's messages"},
  [0xE03C] = {"SESSION_PRIVATE_KEY", "S", "*", 1, 0, 1, "Private part of the session key (asymmetric ciphers only)"},
  [0xE03D] = {"SESSION_KEY_EXPIRY", "D", "=", 4, 0, 0, "Expiry of the session key"},
  [0xE03E] = {"SESSION_KEY_ALGORITHM", "N", "=", 1, 0, 0, "Algorithm of the session key: 0 DES, 1 3DES, 2 AES, 3 RSA"},
  [0xE03F] = {"SESSION_KEY_DIGEST", "B", "=", 16, 0, 0, "Digest of the session key information (TLV E03B + TLV E03D)"},
  [0xE040] = {"ENCRYPTED_SESSION_KEY", "B", "*", 1, 0, 1, "Session key encrypted with the base key (TLV E03B + TLV E03D)"},
  [0xE041] = {"SECURITY_FAILURE_REPLY", "N", "=", 1, 0, 0, "Reply on failed security check: 0 drop silently, 1 return the header with flags"},
  [0xE042] = {"ENCRYPTED_CONTENT", "B", "*", 1, 0, 1, "Content encrypted with the session key (full encryption)"},
  [0xE043] = {"ENCRYPTED_TLVS", "B", "*", 1, 0, 1, "One or more TLVs encrypted with the session key (partial encryption)"},
  [0xE044] = {"ENCRYPTED_SUBPACKET", "B", "*", 7, 0, 1, "Encrypted sub-packet: trans ID, total, index, operation, encrypted data"},
}
-- TLVs whose number is a code of T.codes (appendix E)
T.tlv_tables = {
  [0x1000] = "download_protocol",
  [0x2001] = "stats_policy",
  [0x300B] = "alarm_status",
  [0x300C] = "alarm_type",
  [0x4001] = "remote_ctrl",
  [0x4002] = "conn_mode",
  [0x4003] = "flow_mode",
  [0x4005] = "collect_bearer",
  [0xE00D] = "sim_binding",
  [0xE022] = "security_mode",
  [0xE032] = "security_mode",
  [0xE035] = "algorithm",
  [0xE039] = "key_algorithm",
  [0xE03E] = "key_algorithm",
  [0xE041] = "failure_reply",
}
T.command_lists = {[0xE023] = true, [0xE033] = true}
T.alarm_lists = {[0x300D] = true, [0x300E] = true}
-- meanings of the codes (wmmp_tools.tagnames.CODE_DESCRIPTIONS)
T.codes = {
  ack = {
    [0x00] = "accepted, data correct",
    [0x01] = "data invalid",
  },
  alarm = {
    [0x01] = "connecting to the server by SMS failed (communication)",
    [0x02] = "connecting to the server by USSD failed (communication)",
    [0x03] = "connecting to the server by packet bearer failed (communication)",
    [0x04] = "packet bearer cannot be opened (communication)",
    [0x05] = "GPS module fault (hardware)",
    [0x06] = "terminal self-test fault (hardware)",
    [0x07] = "SMS submission timeout (communication)",
    [0x08] = "terminal power fault (hardware)",
    [0x09] = "threshold exceeded (hardware)",
    [0x0A] = "terminal upgrade failed (software)",
    [0x0B] = "weak signal (hardware)",
    [0x0C] = "dial-up failed (hardware)",
    [0x0D] = "too many bit errors (software)",
    [0x0E] = "connection to the M2M service platform failed (communication)",
    [0x0F] = "no packet received from the platform server",
    [0x10] = "protocol version does not match the platform",
    [0x11] = "memory error",
    [0x12] = "application file damaged",
    [0x13] = "application server platform unreachable",
    [0x14] = "monitoring platform unreachable",
    [0x15] = "printer fault",
    [0x16] = "scanner fault",
    [0x17] = "POS card reader fault",
    [0x18] = "IC card reader fault",
    [0x19] = "PIN pad fault",
    [0x1A] = "external phone fault",
    [0x1B] = "upgrade failure alarm",
    [0x1C] = "SMS receive timeout",
  },
  alarm_status = {
    [0x00] = "normal",
    [0x01] = "alarm",
  },
  alarm_type = {
    [0x01] = "communication alarm",
    [0x02] = "terminal hardware alarm",
    [0x03] = "terminal software alarm",
  },
  algorithm = {
    [0x00] = "none",
    [0x01] = "DES",
    [0x02] = "3DES (CBC, K1=K3)",
    [0x03] = "AES",
    [0x04] = "RSA (not supported)",
  },
  app_proto = {
    [0x00] = "transparent",
    [0x01] = "HTTP",
    [0x02] = "FTP",
    [0x03] = "SOAP",
  },
  app_transport = {
    [0x00] = "UDP",
    [0x01] = "TCP",
  },
  cleared = {
    [0x02] = "base key cleared",
    [0x04] = "downlink access password cleared",
    [0x08] = "uplink access password cleared",
    [0x10] = "PUK2 cleared",
    [0x20] = "PUK1 cleared",
    [0x40] = "PIN2 cleared",
    [0x80] = "PIN1 cleared",
  },
  collect_bearer = {
    [0x01] = "SMS",
    [0x02] = "USSD",
    [0x03] = "packet bearer",
    [0x04] = "other",
  },
  config_result = {
    [0x00] = "applied",
    [0x01] = "deferred",
    [0x02] = "applying failed, system cannot work: previous configuration restored",
  },
  conn_mode = {
    [0x00] = "UDP short connection",
    [0x01] = "UDP long connection",
    [0x02] = "TCP short connection",
    [0x03] = "TCP long connection",
    [0x04] = "SMS",
    [0x05] = "USSD",
  },
  download_ack = {
    [0x00] = "already the latest version, no update needed",
    [0x01] = "preparing to update now",
    [0x02] = "terminal busy with service, update deferred",
    [0x03] = "terminal does not support the download protocol",
    [0x04] = "URL parameters invalid",
    [0x05] = "terminal buffer too small to download",
  },
  download_fail = {
    [0x00] = "cannot connect to the download address",
    [0x01] = "terminal buffer too small to start the download",
    [0x02] = "memory overflow during the download",
    [0x03] = "connection timeout during the download",
    [0x04] = "CRC of the complete file wrong",
    [0x05] = "terminal failed to apply the upgrade file",
  },
  download_protocol = {
    [0x00] = "M2M application protocol (FILE_REQ)",
    [0x01] = "HTTP",
    [0x02] = "FTP",
  },
  failure_reply = {
    [0x00] = "drop, no reply",
    [0x01] = "reply with the original header, security result flags changed",
  },
  file_req = {
    [0x00] = "download starts",
    [0x01] = "downloading",
    [0x02] = "download complete, CRC correct",
    [0x03] = "download failed, aborted",
  },
  file_req_ack = {
    [0x00] = "normal / confirmed",
    [0x01] = "invalid TRANS_ID",
    [0x02] = "invalid FILE_READ_POINT",
    [0x03] = "invalid FILE_BLOCK_SIZE, the platform sends a valid length",
  },
  flow_mode = {
    [0x00] = "management and service flows in parallel (default)",
    [0x01] = "management and service flows separate",
  },
  key_algorithm = {
    [0x00] = "DES",
    [0x01] = "3DES",
    [0x02] = "AES",
    [0x03] = "RSA (not supported)",
  },
  login_ack = {
    [0x00] = "logged in",
    [0x01] = "logged in, but the configuration CRC32 differs: report the configuration",
    [0x02] = "failed: invalid mapping",
    [0x03] = "failed: invalid terminal serial number",
    [0x04] = "failed: serial number conflict, the reported serial is online",
    [0x05] = "failed: incompatible protocol version",
    [0x06] = "failed: terminal not registered",
    [0x07] = "logged in, base key check failed: no session key can be sent",
    [0x08] = "logged in; the platform will update passwords, keys or configuration, stay connected",
    [0x09] = "failed: base key digest 0xE03A not reported",
  },
  logout = {
    [0x00] = "normal logout, wait for activation",
    [0x01] = "normal logout, about to upgrade software",
    [0x02] = "communication with the platform failed",
    [0x03] = "new local configuration applied, restarting the session",
    [0x04] = "heartbeat timeout",
    [0x05] = "terminal fault, wait for activation",
    [0x06] = "terminal fault, log in again once it is resolved",
    [0x07] = "new configuration from the platform applied, restarting the session",
    [0x08] = "session key expired, logging in again",
    [0x09] = "logging out to update the access passwords or base key",
    [0x0A] = "logging out to update the SIM security parameters",
  },
  peripheral = {
    [0x01] = "PRN: printer",
    [0x02] = "SCAN: scanner",
    [0x03] = "POS: POS card reader",
    [0x04] = "IC: IC card reader",
    [0x05] = "KEY: PIN pad",
    [0x06] = "PHONE: external phone",
  },
  peripheral_state = {
    [0x00] = "disabled",
    [0x01] = "enabled",
    [0x02] = "faulty",
  },
  register_ack = {
    [0x00] = "registered; enter SMS mode to receive the access passwords and base key",
    [0x01] = "mapping changed",
    [0x02] = "failed: IMSI subscription cannot be verified, register by SMS",
    [0x03] = "failed: unknown MSISDN/IMSI, no subscription for this SIM",
    [0x04] = "failed: MSISDN/IMSI conflict, the terminal of this SIM is online",
    [0x05] = "failed: invalid terminal serial number",
    [0x06] = "failed: serial number conflict, the terminal with this serial is online",
    [0x07] = "failed: IMEI conflict, the terminal with this IMEI is online",
    [0x08] = "failed: incompatible protocol version",
    [0x09] = "registered; preset passwords and base key valid, log in now",
    [0x0A] = "failed: digest of the preset access passwords invalid",
    [0x0B] = "failed: digest of the preset base key invalid",
    [0x0C] = "failed: digests of the preset passwords and base key both invalid",
    [0x0D] = "failed: platform has no digest of the preset access passwords",
    [0x0E] = "failed: platform has no preset base key",
    [0x0F] = "failed: platform has neither preset passwords nor base key",
    [0x10] = "failed: terminal did not report the digest of the preset passwords",
    [0x11] = "failed: terminal did not report the digest of the preset base key",
    [0x12] = "failed: terminal reported neither preset password nor base key digest",
    [0x13] = "registered; no access password will be sent, log in directly",
  },
  register_op = {
    [0x00] = "register, platform assigns the serial number",
    [0x01] = "register, serial number preset in the terminal",
    [0x02] = "change of the serial-IMEI-IMSI mapping",
    [0x03] = "register, serial number, access passwords and base key preset",
    [0x04] = "report of passwords and keys cleared or lost locally",
  },
  remote_ctrl = {
    [0x00] = "suspend the EC service (stay connected to the platform)",
    [0x01] = "resume the EC service",
    [0x02] = "restart the terminal",
    [0x03] = "remote wake-up: log in to the platform again",
    [0x04] = "report the accumulated statistics (0x2004, 0x2008-0x200E)",
    [0x05] = "clear the service statistics",
    [0x06] = "report the monitoring information",
    [0x07] = "upload service data to the application",
    [0x08] = "report the application connection mode (0x4005, 0x4006)",
    [0x09] = "switch APN from the M2M application to the M2M platform",
    [0x0A] = "restore factory settings (except serial number and registration state)",
    [0x0B] = "report the core configuration named by 0x0025 in a CONFIG_TRAP",
    [0x0C] = "switch APN from the M2M platform to the M2M application",
    [0x0D] = "log in again with session key encryption",
  },
  security_ack = {
    [0x00] = "request accepted",
    [0x01] = "error: decryption failed",
    [0x02] = "error: unsupported TLV",
    [0x03] = "platform refuses to enable or update the security parameters",
    [0x04] = "error: SIM password digest wrong",
    [0x05] = "error: terminal does not support encryption",
    [0x08] = "error: terminal logged in with session encryption",
  },
  security_mode = {
    [0x00] = "no message",
    [0x01] = "every message",
    [0x02] = "messages with the listed command IDs",
    [0x03] = "messages with the listed TLVs",
    [0x04] = "messages with a listed command ID or a listed TLV",
    [0x05] = "messages with a listed command ID and a listed TLV",
  },
  security_op = {
    [0x00] = "platform sets security parameters (in clear only by SMS)",
    [0x01] = "platform reads security parameters, returned encrypted",
    [0x02] = "platform reads digests of security parameters, returned in clear",
    [0x03] = "platform announces a security update: enter SMS mode for clear parameters",
    [0x04] = "terminal reports security parameters",
    [0x05] = "terminal asks to update security parameters in clear",
    [0x06] = "terminal asks to update security parameters encrypted",
    [0x07] = "terminal asks to enable security parameters",
  },
  sim_binding = {
    [0x00] = "SIM binding off",
    [0x01] = "SIM binding on",
    [0x02] = "platform clears all SIM security parameters of the terminal",
  },
  stats_policy = {
    [0x00] = "report at the time set by 0x2002",
    [0x01] = "report periodically with the period of 0x2003",
    [0x02] = "report at the first service use each month",
  },
  subpacket_op = {
    [0x00] = "sub-packet data",
    [0x01] = "receiver asks for the sub-packet with this index",
    [0x02] = "sender aborts the sub-packet exchange",
    [0x03] = "receiver aborts the sub-packet exchange",
  },
  transparent_ack = {
    [0x00] = "platform received, CRC16 correct, forwarded",
    [0x01] = "platform received, CRC16 correct, destination offline: not forwarded",
    [0x02] = "platform received, CRC16 correct, destination wrong or invalid: not forwarded",
    [0x03] = "platform received, CRC16 correct, sender not allowed: not forwarded",
    [0x04] = "platform: CRC16 wrong, data invalid",
    [0x05] = "terminal received, CRC16 correct",
    [0x06] = "terminal: CRC16 wrong, data invalid",
  },
}
-- END GENERATED TABLES

-- 32-bit operations: bit32 where Wireshark's Lua is 5.2, the operators of Lua 5.3 and
-- later otherwise (compiled from a string, so that Lua 5.2 never parses them).
local bits = bit32 or load([[
    local M = 0xFFFFFFFF
    return {
        band = function(a, ...) for _, x in ipairs({...}) do a = a & x end return a & M end,
        bor = function(a, ...) for _, x in ipairs({...}) do a = a | x end return a & M end,
        bxor = function(a, ...) for _, x in ipairs({...}) do a = a ~ x end return a & M end,
        bnot = function(a) return ~a & M end,
        lrotate = function(a, n) a = a & M return ((a << n) | (a >> (32 - n))) & M end,
        rshift = function(a, n) return (a & M) >> n end,
        lshift = function(a, n) return (a << n) & M end,
    }]])()
local band, bor, bxor, bnot, lrot, rshift, lshift =
    bits.band, bits.bor, bits.bxor, bits.bnot, bits.lrotate, bits.rshift, bits.lshift

-- MD5 (RFC 1321), for the E021 digest: Wireshark's Lua has no hash function.
local MD5_K = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
}
local MD5_S = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
}

local function le32(x)
    return string.char(band(x, 0xFF), band(rshift(x, 8), 0xFF), band(rshift(x, 16), 0xFF),
                       band(rshift(x, 24), 0xFF))
end

local function md5(msg)
    local n = #msg
    local bits = n * 8
    msg = msg .. "\128" .. string.rep("\0", (55 - n) % 64) ..
          le32(bits % 4294967296) .. le32(math.floor(bits / 4294967296))
    local a0, b0, c0, d0 = 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476
    local M = {}
    for chunk = 1, #msg, 64 do
        for j = 0, 15 do
            local p = chunk + 4 * j
            local b1, b2, b3, b4 = msg:byte(p, p + 3)
            M[j] = bor(b1, lshift(b2, 8), lshift(b3, 16), lshift(b4, 24))
        end
        local a, b, c, d = a0, b0, c0, d0
        for i = 0, 63 do
            local f, g
            if i < 16 then
                f = bor(band(b, c), band(bnot(b), d)); g = i
            elseif i < 32 then
                f = bor(band(d, b), band(bnot(d), c)); g = (5 * i + 1) % 16
            elseif i < 48 then
                f = bxor(b, c, d); g = (3 * i + 5) % 16
            else
                f = bxor(c, bor(b, bnot(d))); g = (7 * i) % 16
            end
            local t = d
            d = c
            c = b
            b = band(b + lrot(band(a + f + MD5_K[i + 1] + M[g], 0xFFFFFFFF), MD5_S[i + 1]), 0xFFFFFFFF)
            a = t
        end
        a0 = band(a0 + a, 0xFFFFFFFF); b0 = band(b0 + b, 0xFFFFFFFF)
        c0 = band(c0 + c, 0xFFFFFFFF); d0 = band(d0 + d, 0xFFFFFFFF)
    end
    return le32(a0) .. le32(b0) .. le32(c0) .. le32(d0)
end

local function be32(x)
    return string.char(band(rshift(x, 24), 0xFF), band(rshift(x, 16), 0xFF),
                       band(rshift(x, 8), 0xFF), band(x, 0xFF))
end

local function tohex(s)
    return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- The text of a byte string without its trailing NULs when it is printable ASCII, else nil.
local function printable(s)
    s = s:gsub("%z+$", "")
    if s:find("[^\32-\126]") then return nil end
    return s
end

local function short_hex(s, limit)
    limit = limit or 48
    if #s > limit then return tohex(s:sub(1, limit)) .. "..." end
    return tohex(s)
end

local function date_text(v)
    return string.format("%d = %s UTC", v, os.date("!%Y-%m-%d %H:%M:%S", v))
end

local function code_text(table_name, code)
    local t = T.codes[table_name]
    local m = t and t[code]
    if m then return m end
    return string.format("reserved (0x%02X)", code)
end

local function tag_name(tag)
    local info = T.tags[tag]
    if info then return info[1] end
    if tag >= 0x5001 and tag <= 0x7FFF then return string.format("PLATFORM_0x%04X", tag) end
    if tag >= 0x8001 and tag <= 0xDFFF then return string.format("MAKER_0x%04X", tag) end
    return string.format("UNKNOWN_0x%04X", tag)
end

local function command_name(cmd)
    return T.commands[cmd] or string.format("UNKNOWN_0x%04X", cmd)
end

local ACRONYMS = {imei = "IMEI", imsi = "IMSI", crc16 = "CRC16", crc32 = "CRC32", id = "ID"}

local function label(name)
    local words = {}
    for w in name:gmatch("[^_]+") do words[#words + 1] = ACRONYMS[w] or w end
    local s = table.concat(words, " ")
    return (s:gsub("^%l", string.upper))
end

-- Protocol, fields, expert info -------------------------------------------------------

local wmmp = Proto("wmmp", "WMMP-T (China Mobile M2M protocol)")

local F = {
    total_length = ProtoField.uint16("wmmp.total_length", "Total length", base.DEC),
    serial = ProtoField.string("wmmp.serial", "Serial"),
    serial_unassigned = ProtoField.bool("wmmp.serial_unassigned", "Serial not yet assigned"),
    version = ProtoField.uint16("wmmp.version", "Version", base.HEX),
    command = ProtoField.uint16("wmmp.command", "Command", base.HEX, T.commands),
    command_name = ProtoField.string("wmmp.command_name", "Command name"),
    seq = ProtoField.uint32("wmmp.seq", "Sequence number", base.DEC),
    security = ProtoField.uint8("wmmp.security", "Security", base.HEX),
    reserved = ProtoField.uint8("wmmp.reserved", "Reserved", base.HEX),
    notice = ProtoField.bool("wmmp.notice", "Header echo (notice)"),
    body = ProtoField.bytes("wmmp.body", "Undecoded body"),
    block = ProtoField.bytes("wmmp.field.block", "Block"),
    tlv = ProtoField.none("wmmp.tlv", "TLV"),
    tlv_tag = ProtoField.uint16("wmmp.tlv.tag", "Tag", base.HEX),
    tlv_name = ProtoField.string("wmmp.tlv.name", "Name"),
    tlv_length = ProtoField.uint16("wmmp.tlv.length", "Length", base.DEC),
    tlv_value = ProtoField.bytes("wmmp.tlv.value", "Value"),
    tlv_uint = ProtoField.uint32("wmmp.tlv.uint", "Number", base.DEC),
    tlv_text = ProtoField.string("wmmp.tlv.text", "Text"),
    tlv_item = ProtoField.uint16("wmmp.tlv.item", "Item", base.HEX),
    encrypted = ProtoField.bytes("wmmp.encrypted", "Encrypted with the session key"),
    digest = ProtoField.bytes("wmmp.digest", "Digest (E021)"),
    digest_status = ProtoField.string("wmmp.digest.status", "Digest check"),
    digest_computed = ProtoField.string("wmmp.digest.computed", "Computed digest"),
    digest_timestamp = ProtoField.uint32("wmmp.digest.timestamp", "Digest timestamp", base.DEC),
    sp_trans_id = ProtoField.uint16("wmmp.subpacket.trans_id", "Transaction", base.HEX),
    sp_total = ProtoField.uint16("wmmp.subpacket.total", "Total", base.DEC),
    sp_index = ProtoField.uint16("wmmp.subpacket.index", "Index", base.DEC),
    sp_op = ProtoField.uint8("wmmp.subpacket.op", "Operation", base.HEX, T.codes.subpacket_op),
    sp_data = ProtoField.bytes("wmmp.subpacket.data", "Data"),
    sp_encrypted = ProtoField.bool("wmmp.subpacket.encrypted", "Encrypted (E044)"),
    sp_reassembled_in = ProtoField.framenum("wmmp.subpacket.reassembled_in", "Reassembled in"),
    sp_parts = ProtoField.string("wmmp.subpacket.parts", "Sub-packets in"),
    reassembled = ProtoField.bytes("wmmp.reassembled", "Reassembled content"),
}

local SEC_BITS = {}
for _, f in ipairs(T.flags) do
    local field = ProtoField.bool("wmmp.security." .. f[1], label(f[1]), 8,
                                  {f[3], "not set"}, f[2])
    F["sec_" .. f[1]] = field
    SEC_BITS[#SEC_BITS + 1] = {f[1], f[2], field}
end

-- one field per fixed-part name of appendix G (wmmp.field.<name>)
local FIXED = {}
for fname, code in pairs(T.field_codes) do
    local abbr, lbl = "wmmp.field." .. fname, label(fname)
    local base_ = (T.hex_fields[fname] or fname == "trans_id") and base.HEX or base.DEC
    local f
    if code == "B" then f = ProtoField.uint8(abbr, lbl, base_)
    elseif code == "H" then f = ProtoField.uint16(abbr, lbl, base_)
    elseif code == "I" then f = ProtoField.uint32(abbr, lbl, base_)
    else f = ProtoField.bytes(abbr, lbl) end
    FIXED[fname] = f
    F["field_" .. fname] = f
end

local fields = {}
for _, f in pairs(F) do fields[#fields + 1] = f end
wmmp.fields = fields

local E = {
    malformed = ProtoExpert.new("wmmp.expert.malformed", "Malformed WMMP-T message",
                                expert.group.MALFORMED, expert.severity.ERROR),
    unknown_command = ProtoExpert.new("wmmp.expert.unknown_command", "Command not in appendix D",
                                      expert.group.UNDECODED, expert.severity.ERROR),
    too_long = ProtoExpert.new("wmmp.expert.too_long", "TLV value longer than a packet bearer allows",
                               expert.group.PROTOCOL, expert.severity.ERROR),
    tlv_length = ProtoExpert.new("wmmp.expert.tlv_length", "TLV length not allowed for its tag",
                                 expert.group.PROTOCOL, expert.severity.WARN),
    digest_ok = ProtoExpert.new("wmmp.expert.digest_correct", "digest: correct",
                                expert.group.CHECKSUM, expert.severity.CHAT),
    digest_bad = ProtoExpert.new("wmmp.expert.digest_wrong", "digest: WRONG",
                                 expert.group.CHECKSUM, expert.severity.ERROR),
    digest_unchecked = ProtoExpert.new("wmmp.expert.digest_unchecked", "digest not checked",
                                       expert.group.CHECKSUM, expert.severity.NOTE),
    encrypted = ProtoExpert.new("wmmp.expert.encrypted", "Encrypted with the session key (not decrypted)",
                                expert.group.DECRYPTION, expert.severity.NOTE),
    notice = ProtoExpert.new("wmmp.expert.notice", "Header echo",
                             expert.group.RESPONSE_CODE, expert.severity.NOTE),
    feedback = ProtoExpert.new("wmmp.expert.feedback", "The peer reports a failure of the previous message",
                               expert.group.SEQUENCE, expert.severity.WARN),
    subpacket = ProtoExpert.new("wmmp.expert.subpacket", "Sub-packet problem",
                                expert.group.REASSEMBLE, expert.severity.WARN),
    reassembled = ProtoExpert.new("wmmp.expert.reassembled", "Sub-packets put back together",
                                  expert.group.REASSEMBLE, expert.severity.CHAT),
}
wmmp.experts = {E.malformed, E.unknown_command, E.too_long, E.tlv_length, E.digest_ok, E.digest_bad,
                E.digest_unchecked, E.encrypted, E.notice, E.feedback, E.subpacket, E.reassembled}

-- Preferences ----------------------------------------------------------------------------

wmmp.prefs.udp_ports = Pref.range("UDP ports", "7301",
    "UDP ports of the platform (messages to them are uplink)", 65535)
wmmp.prefs.tcp_ports = Pref.range("TCP ports", "7302",
    "TCP ports of the platform (messages to them are uplink)", 65535)
wmmp.prefs.imei = Pref.string("IMEI", "", "The terminal's IMEI, 15 digits (for the E021 digest)")
wmmp.prefs.imsi = Pref.string("IMSI", "", "The terminal's IMSI, 15 digits (for the E021 digest)")
wmmp.prefs.uplink_password = Pref.string("Uplink password (E025)", "",
    "8 characters: the digest of terminal-to-platform messages")
wmmp.prefs.downlink_password = Pref.string("Downlink password (E028)", "",
    "8 characters: the digest of platform-to-terminal messages")
wmmp.prefs.timestamp = Pref.uint("Session timestamp", 0,
    "CURTIME of the LOGIN_ACK that opened the connection, for a capture that starts after it " ..
    "(a LOGIN_ACK in the capture replaces it)")
wmmp.prefs.reassemble = Pref.bool("Reassemble sub-packets", true,
    "Put the content of 0x4008 / E044 sub-packets back together once all have been seen")

local function parse_range(text)
    local out = {}
    for part in tostring(text or ""):gmatch("[^,%s]+") do
        local a, b = part:match("^(%d+)%-(%d+)$")
        if a then out[#out + 1] = {tonumber(a), tonumber(b)}
        else
            local n = tonumber(part)
            if n then out[#out + 1] = {n, n} end
        end
    end
    return out
end

local function in_range(r, port)
    for _, ab in ipairs(r) do
        if port >= ab[1] and port <= ab[2] then return true end
    end
    return false
end

local udp_table = DissectorTable.get("udp.port")
local tcp_table = DissectorTable.get("tcp.port")
local port_ranges = {udp = {}, tcp = {}}

local function register_ports()
    local want = {udp = tostring(wmmp.prefs.udp_ports or ""), tcp = tostring(wmmp.prefs.tcp_ports or "")}
    for _, which in ipairs({"udp", "tcp"}) do
        local tbl = which == "udp" and udp_table or tcp_table
        for _, ab in ipairs(port_ranges[which]) do
            for p = ab[1], ab[2] do tbl:remove(p, wmmp) end
        end
        port_ranges[which] = parse_range(want[which])
        for _, ab in ipairs(port_ranges[which]) do
            for p = ab[1], ab[2] do tbl:add(p, wmmp) end
        end
    end
end

-- Digest credentials from the preferences: nil (with the reason) unless complete.
local function credentials()
    local imei, imsi = wmmp.prefs.imei or "", wmmp.prefs.imsi or ""
    local up, down = wmmp.prefs.uplink_password or "", wmmp.prefs.downlink_password or ""
    if imei == "" and imsi == "" and up == "" and down == "" then return nil, nil end
    if not imei:match("^%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d$") then
        return nil, "the IMEI preference is not 15 digits"
    end
    if not imsi:match("^%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d$") then
        return nil, "the IMSI preference is not 15 digits"
    end
    if up ~= "" and #up ~= 8 then return nil, "the uplink password preference is not 8 characters" end
    if down ~= "" and #down ~= 8 then return nil, "the downlink password preference is not 8 characters" end
    if up == "" and down == "" then return nil, "no password in the preferences" end
    return {imei = imei .. "\0", imsi = imsi, up = up ~= "" and up or nil,
            down = down ~= "" and down or nil}
end

-- State kept across packets (reset for every capture file) -------------------------------

local state

local function reset_state()
    state = {
        session_ts = {},     -- serial -> CURTIME of the last LOGIN_ACK seen (first pass)
        msg_ts = {},         -- message key -> timestamp in force when it was first seen
        sets = {},           -- sub-packet transaction key -> {total, parts, frames}
        reassembled = {},    -- message key -> {content ByteArray, frames}
        reassembled_in = {}, -- message key -> frame number of the last sub-packet
    }
end
reset_state()
wmmp.init = reset_state

function wmmp.prefs_changed()
    register_ports()
end

-- Dissection ----------------------------------------------------------------------------

local FIELD_SIZES = {B = 1, H = 2, I = 4}

local function field_size(code)
    return FIELD_SIZES[code] or tonumber(code:sub(1, -2))
end

local function malformed(item, text)
    item:add_proto_expert_info(E.malformed, text)
end

-- Display text of a TLV value, and the typed items to add: {kind, value}.
local function tlv_value_text(tag, raw)
    local n = #raw
    local info = T.tags[tag]
    if n == 0 then return "no value (L=0)", nil, nil end
    local typed, problem
    if info then
        local ty, kind, m, maxc = info[2], info[3], info[4], info[5]
        local ok
        if kind == "=" then ok = n == m
        elseif kind == "<" then ok = n <= m
        elseif kind == "*" then ok = n >= m
        elseif kind == "x" then ok = n % m == 0 and (maxc == 0 or n / m <= maxc)
        else ok = true end
        if not ok then
            problem = string.format("%d bytes is not a length %s (0x%04X) may have", n, info[1], tag)
        elseif ty == "D" or (ty == "N" and kind == "=" and (n == 1 or n == 2 or n == 4)) then
            local v = 0
            for i = 1, n do v = v * 256 + raw:byte(i) end
            typed = {"uint", v}
        elseif ty == "T" or band(info[6], 4) ~= 0 then
            local items = {}
            for i = 1, n - 1, 2 do items[#items + 1] = raw:byte(i) * 256 + raw:byte(i + 1) end
            typed = {"list", items}
        end
    end
    local text
    if typed and typed[1] == "uint" then
        local v = typed[2]
        text = string.format("%d (0x%0" .. (2 * n) .. "X)", v, v)
        local extra
        if info[2] == "D" then extra = os.date("!%Y-%m-%d %H:%M:%S UTC", v)
        elseif T.tlv_tables[tag] then extra = code_text(T.tlv_tables[tag], v)
        elseif tag == 0x0009 or tag == 0x000D or tag == 0x0010 or tag == 0x0014 then
            extra = string.format("%d.%d.%d.%d", raw:byte(1, 4))
        elseif tag == 0x000A or tag == 0x000E then
            extra = string.format("UDP port %d, TCP port %d", math.floor(v / 65536), v % 65536)
        elseif tag == 0x3001 then
            extra = string.format("protocol version %d.%d", math.floor(v / 256), v % 256)
        end
        if extra then text = text .. ": " .. extra end
    elseif typed and typed[1] == "list" then
        local names = {}
        for _, x in ipairs(typed[2]) do
            if T.command_lists[tag] then names[#names + 1] = command_name(x)
            elseif info[2] == "T" then names[#names + 1] = tag_name(x)
            else names[#names + 1] = string.format("0x%04X", x) end
        end
        text = #names > 0 and table.concat(names, ", ") or "(empty list)"
    else
        local t = printable(raw)
        if t and t ~= "" then text = '"' .. t .. '"' else text = short_hex(raw) end
    end
    if info and band(info[6], 1) ~= 0 then text = text .. " (secret)" end
    return text, typed, problem
end

local dissect_content   -- forward

-- One TLV at `off` (header already checked to fit): its subtree.
local function add_tlv(tvb, tree, off, tag, n, ctx)
    local range = tvb(off, 4 + n)
    local name = tag_name(tag)
    local raw = n > 0 and tvb:raw(off + 4, n) or ""
    local st = tree:add(F.tlv, range)
    st:add(F.tlv_tag, tvb(off, 2)):append_text(" (" .. name .. ")")
    st:add(F.tlv_name, tvb(off, 2), name):set_generated()
    st:add(F.tlv_length, tvb(off + 2, 2))
    if n > 0 then st:add(F.tlv_value, tvb(off + 4, n)) end
    local text
    if tag == T.DIGEST_TAG then
        text = tohex(raw)
    elseif tag == T.TAG_FULL or tag == T.TAG_PARTIAL then
        text = string.format("%d bytes encrypted", n)
        if n > 0 then st:add(F.encrypted, tvb(off + 4, n)) end
        st:add_proto_expert_info(E.encrypted, tag == T.TAG_FULL and
            "content encrypted with the session key (E042, not decrypted)" or
            "TLVs encrypted with the session key (E043, not decrypted)")
    elseif tag == T.TAG_SUBPACKET or tag == T.TAG_ENC_SUBPACKET then
        text = string.format("%d bytes", n)
    else
        local typed, problem
        text, typed, problem = tlv_value_text(tag, raw)
        if typed and typed[1] == "uint" then
            st:add(F.tlv_uint, tvb(off + 4, n), typed[2])
        elseif typed and typed[1] == "list" then
            for i, x in ipairs(typed[2]) do
                local item = st:add(F.tlv_item, tvb(off + 4 + 2 * (i - 1), 2))
                if T.command_lists[tag] then item:append_text(" (" .. command_name(x) .. ")")
                elseif T.tags[tag] and T.tags[tag][2] == "T" then item:append_text(" (" .. tag_name(x) .. ")") end
            end
        elseif n > 0 then
            local t = printable(raw)
            if t and t ~= "" then st:add(F.tlv_text, tvb(off + 4, n), t) end
        end
        if problem then st:add_proto_expert_info(E.tlv_length, problem) end
    end
    if n > T.PACKET_TLV_MAX then
        st:add_proto_expert_info(E.too_long, string.format(
            "TLV 0x%04X value is %d bytes, a packet bearer allows %d", tag, n, T.PACKET_TLV_MAX))
        ctx.errors = ctx.errors + 1
    end
    st:set_text(string.format("%s (0x%04X), %d bytes: %s", name, tag, n, text))
    return st
end

-- The TLVs in [off, stop) of tvb: list of {tag, offset, length, item}.  Stops at the
-- first TLV that does not fit, with expert info.
local function dissect_tlvs(tvb, tree, off, stop, ctx)
    local out = {}
    while off < stop do
        if stop - off < 4 then
            local it = tree:add(F.body, tvb(off, stop - off))
            malformed(it, string.format("TLV header at offset %d needs 4 bytes, %d left", off, stop - off))
            ctx.errors = ctx.errors + 1
            break
        end
        local tag, n = tvb(off, 2):uint(), tvb(off + 2, 2):uint()
        if n > stop - off - 4 then
            local it = tree:add(F.tlv, tvb(off, stop - off))
            it:add(F.tlv_tag, tvb(off, 2)):append_text(" (" .. tag_name(tag) .. ")")
            it:add(F.tlv_length, tvb(off + 2, 2))
            it:set_text(string.format("%s (0x%04X), claims %d bytes, %d left", tag_name(tag), tag, n,
                                      stop - off - 4))
            malformed(it, string.format("TLV 0x%04X at offset %d claims %d bytes, %d left",
                                        tag, off, n, stop - off - 4))
            ctx.errors = ctx.errors + 1
            break
        end
        out[#out + 1] = {tag, off, n, add_tlv(tvb, tree, off, tag, n, ctx)}
        off = off + 4 + n
    end
    return out
end

-- The fixed part of `cmd` at tvb[off, stop): the field values by name and the
-- offset after it; nil offset when it does not fit.
local function dissect_fixed(tvb, tree, cmd, off, stop, ctx)
    local lay = T.layouts[cmd]
    local need = 0
    for _, f in ipairs(lay) do need = need + field_size(f[2]) end
    local values = {}
    if stop - off < need then
        local it = tree:add(F.body, tvb(off, stop - off > 0 and stop - off or 0))
        malformed(it, string.format("%s fixed part needs %d bytes, %d present", command_name(cmd), need,
                                    stop - off))
        ctx.errors = ctx.errors + 1
        return values, nil
    end
    local tables = T.field_tables[cmd] or {}
    for _, f in ipairs(lay) do
        local fname, code = f[1], f[2]
        local size = field_size(code)
        local r = tvb(off, size)
        local item = tree:add(FIXED[fname], r)
        if FIELD_SIZES[code] then
            local v = r:uint()
            values[fname] = v
            if tables[fname] then
                item:append_text(" (" .. code_text(tables[fname], v) .. ")")
            elseif T.date_fields[fname] then
                item:append_text(" (" .. date_text(v) .. ")")
            end
        else
            local raw = r:raw()
            values[fname] = raw
            local t = printable(raw)
            if t then item:append_text(' ("' .. t .. '")') end
        end
        off = off + size
    end
    if cmd == T.FILE_REQ_ACK then
        local bs = values.block_size
        if stop - off < bs then
            local it = tree:add(F.body, tvb(off, stop - off > 0 and stop - off or 0))
            malformed(it, string.format("FILE_REQ_ACK block_size %d but %d bytes left", bs, stop - off))
            ctx.errors = ctx.errors + 1
            return values, nil
        end
        if bs > 0 then tree:add(F.block, tvb(off, bs)) end
        off = off + bs
    end
    return values, off
end

-- Fixed part and TLVs (content in clear, not a carrier) of `cmd` in tvb[off, stop).
dissect_content = function(tvb, tree, cmd, off, stop, ctx)
    local values, after = dissect_fixed(tvb, tree, cmd, off, stop, ctx)
    if not after then return values, {} end
    local tlvs = dissect_tlvs(tvb, tree, after, stop, ctx)
    for _, t in ipairs(tlvs) do
        local tag = t[1]
        if tag == T.DIGEST_TAG then
            malformed(t[4], "E021 digest inside the content (it must be last, with bit 0x20)")
            ctx.errors = ctx.errors + 1
        elseif tag == T.TAG_FULL or tag == T.TAG_SUBPACKET or tag == T.TAG_ENC_SUBPACKET then
            malformed(t[4], string.format("TLV 0x%04X only travels alone with bit 0x10", tag))
            ctx.errors = ctx.errors + 1
        end
    end
    return values, tlvs
end

local function message_key(pinfo, tvb)
    return string.format("%d:%d:%d", pinfo.number, tvb:offset(), tvb:len())
end

-- Sub-packet carrier value: fields, and the set it belongs to.
local function dissect_subpacket(tvb, pinfo, tree, tlv, hdr, ctx)
    local tag, off, n, st = tlv[1], tlv[2], tlv[3], tlv[4]
    local encrypted = tag == T.TAG_ENC_SUBPACKET
    if n < T.SUBPACKET_HEADER then
        malformed(st, string.format("sub-packet TLV needs 7 bytes, got %d", n))
        ctx.errors = ctx.errors + 1
        return
    end
    local v = off + 4
    local trans_id, total, index, op = tvb(v, 2):uint(), tvb(v + 2, 2):uint(), tvb(v + 4, 2):uint(),
                                       tvb(v + 6, 1):uint()
    st:add(F.sp_trans_id, tvb(v, 2))
    st:add(F.sp_total, tvb(v + 2, 2))
    st:add(F.sp_index, tvb(v + 4, 2))
    st:add(F.sp_op, tvb(v + 6, 1))
    st:add(F.sp_encrypted, tvb(off, 2), encrypted):set_generated()
    local data_len = n - T.SUBPACKET_HEADER
    if data_len > 0 then st:add(F.sp_data, tvb(v + 7, data_len)) end
    st:set_text(string.format("%s (0x%04X): transaction 0x%04X, %d of %d, %s, %d bytes of data",
        tag_name(tag), tag, trans_id, index, total, code_text("subpacket_op", op), data_len))
    ctx.info = ctx.info .. string.format(" [sub-packet %d/%d%s]", index, total, op ~= 0 and
                                         (" op " .. op) or "")
    if not wmmp.prefs.reassemble or op ~= 0 then return end
    local key = message_key(pinfo, tvb)
    if not pinfo.visited then
        local skey = string.format("%s|%s:%s>%s:%s|%d|%d", hdr.serial_raw, tostring(pinfo.src),
                                   pinfo.src_port, tostring(pinfo.dst), pinfo.dst_port, hdr.command, trans_id)
        local set = state.sets[skey]
        if set and (set.total ~= total or set.encrypted ~= encrypted) then set = nil end
        if not set then
            set = {total = total, encrypted = encrypted, parts = {}, keys = {}, frames = {}, count = 0}
            state.sets[skey] = set
        end
        if index >= 1 and index <= total and not set.parts[index] then
            set.parts[index] = data_len > 0 and tvb(v + 7, data_len):bytes() or ByteArray.new()
            set.count = set.count + 1
            set.keys[#set.keys + 1] = key
            set.frames[#set.frames + 1] = pinfo.number
            if set.count == total then
                local content = ByteArray.new()
                for i = 1, total do content:append(set.parts[i]) end
                table.sort(set.frames)
                local frames = {}
                for _, f in ipairs(set.frames) do frames[#frames + 1] = tostring(f) end
                state.reassembled[key] = {content = content, frames = table.concat(frames, ", "),
                                          encrypted = encrypted}
                for _, k in ipairs(set.keys) do state.reassembled_in[k] = pinfo.number end
                state.sets[skey] = nil
            end
        end
    end
    local whole = state.reassembled[key]
    if whole then
        local ctvb = whole.content:tvb("Reassembled WMMP-T content")
        local rt = tree:add(F.reassembled, ctvb())
        rt:set_text(string.format("Reassembled content of %s, %d bytes", command_name(hdr.command),
                                  ctvb:len()))
        rt:add(F.sp_parts, ctvb(), whole.frames):set_generated()
        rt:add_proto_expert_info(E.reassembled, string.format(
            "%d sub-packets put back together (frames %s)", total, whole.frames))
        if whole.encrypted then
            rt:add(F.encrypted, ctvb())
            rt:add_proto_expert_info(E.encrypted,
                "sub-packet content encrypted with the session key (E044, not decrypted)")
        elseif T.layouts[hdr.command] then
            local inner = {errors = 0, info = ""}
            dissect_content(ctvb, rt, hdr.command, 0, ctvb:len(), inner)
            ctx.errors = ctx.errors + inner.errors
        end
        ctx.info = ctx.info .. " [reassembled]"
    elseif state.reassembled_in[key] then
        st:add(F.sp_reassembled_in, tvb(off, 4 + n), state.reassembled_in[key]):set_generated()
    end
end

-- The timestamp of the E021 digest (docs/PROTOCOL.md 3), and a note when unknown.
local function digest_timestamp(pinfo, tvb, hdr, values)
    local cmd = hdr.command
    if cmd == T.REGISTER or cmd == T.REGISTER_ACK or cmd == T.LOGIN then return 0 end
    if cmd == T.LOGIN_ACK then
        if values.curtime then return values.curtime end
        return nil, "the CURTIME of this LOGIN_ACK is encrypted"
    end
    local key = message_key(pinfo, tvb)
    local ts = state.msg_ts[key]
    if ts == nil then
        ts = state.session_ts[hdr.serial_raw] or wmmp.prefs.timestamp or 0
        state.msg_ts[key] = ts
    end
    return ts
end

local function check_digest(tvb, pinfo, tree, hdr, values, stop, ctx)
    local dt = tvb(stop, T.TLV_HEADER + T.DIGEST_SIZE)
    local digest = tvb:raw(stop + T.TLV_HEADER, T.DIGEST_SIZE)
    local st = ctx.digest_item
    st:add(F.digest, tvb(stop + T.TLV_HEADER, T.DIGEST_SIZE))
    local creds, why = credentials()
    if not creds then
        if why then
            st:add(F.digest_status, dt, "not checked: " .. why):set_generated()
            st:add_proto_expert_info(E.digest_unchecked, "digest not checked: " .. why)
        end
        return
    end
    local ts, note = digest_timestamp(pinfo, tvb, hdr, values)
    if ts == nil then
        st:add(F.digest_status, dt, "not checked: " .. note):set_generated()
        st:add_proto_expert_info(E.digest_unchecked, "digest not checked: " .. note)
        return
    end
    st:add(F.digest_timestamp, dt, ts):set_generated()
    local signed = tvb:raw(0, stop) .. be32(ts) .. creds.imei .. creds.imsi
    local port = hdr.is_tcp and port_ranges.tcp or port_ranges.udp
    local to_platform, from_platform = in_range(port, pinfo.dst_port), in_range(port, pinfo.src_port)
    local direction, passwords
    if to_platform and not from_platform then
        direction, passwords = "uplink", {creds.up}
    elseif from_platform and not to_platform then
        direction, passwords = "downlink", {creds.down}
    else
        direction, passwords = "uplink or downlink", {creds.up, creds.down}   -- either password
    end
    local computed
    for i = 1, 2 do
        local pw = passwords[i]
        if pw then
            local d = md5(signed .. pw)
            computed = computed or d
            if d == digest then
                st:add(F.digest_status, dt, "correct"):set_generated()
                st:add_proto_expert_info(E.digest_ok, "digest: correct")
                ctx.info = ctx.info .. " [digest correct]"
                return
            end
        end
    end
    if not computed then
        st:add(F.digest_status, dt, "not checked: no " .. direction .. " password"):set_generated()
        st:add_proto_expert_info(E.digest_unchecked, "digest not checked: no " .. direction .. " password")
        return
    end
    st:add(F.digest_computed, dt, tohex(computed)):set_generated()
    st:add(F.digest_status, dt, "WRONG"):set_generated()
    st:add_proto_expert_info(E.digest_bad, "digest: WRONG")
    ctx.info = ctx.info .. " [digest WRONG]"
end

-- One whole message (a UDP datagram, or one PDU of a TCP stream).
local function dissect_message(tvb, pinfo, root, is_tcp)
    local size = tvb:len()
    local ti = root:add(wmmp, tvb())
    local ctx = {errors = 0, info = ""}
    if size < T.HEADER_SIZE then
        ti:set_text(string.format("WMMP-T, %d bytes (truncated)", size))
        if size > 0 then ti:add(F.body, tvb()) end
        malformed(ti, string.format("header needs 28 bytes, got %d", size))
        return string.format("truncated message (%d bytes)", size)
    end
    local total = tvb(0, 2):uint()
    local cmd = tvb(20, 2):uint()
    local seq = tvb(22, 4):uint()
    local sec = tvb(26, 1):uint()
    local serial_raw = tvb:raw(2, 16)
    local hdr = {command = cmd, serial_raw = serial_raw, is_tcp = is_tcp}
    local name = command_name(cmd)
    ctx.info = string.format("%s seq=%d", name, seq)

    local ht = ti:add(tvb(0, T.HEADER_SIZE), "Header")
    local tl = ht:add(F.total_length, tvb(0, 2))
    local stext = printable(serial_raw)
    ht:add(F.serial, tvb(2, 16), stext or tohex(serial_raw))
    if serial_raw:sub(9, 16) == string.rep("\0", 8) then
        ht:add(F.serial_unassigned, tvb(10, 8), true):set_generated()
    end
    local v = tvb(18, 2):uint()
    ht:add(F.version, tvb(18, 2)):append_text(string.format(" (%d.%d)", math.floor(v / 256), v % 256))
    local ci = ht:add(F.command, tvb(20, 2))
    ht:add(F.command_name, tvb(20, 2), name):set_generated()
    ht:add(F.seq, tvb(22, 4))
    local secitem = ht:add(F.security, tvb(26, 1))
    local names = {}
    for _, b in ipairs(SEC_BITS) do
        secitem:add(b[3], tvb(26, 1))
        if band(sec, b[2]) ~= 0 then names[#names + 1] = b[1] end
    end
    if #names > 0 then secitem:append_text(" (" .. table.concat(names, ", ") .. ")") end
    ht:add(F.reserved, tvb(27, 1))
    ti:set_text(string.format("WMMP-T %s, seq %d, %d bytes", name, seq, size))

    if band(sec, T.SEC_FEEDBACK) ~= 0 then
        local failed = {}
        for _, b in ipairs(SEC_BITS) do
            if b[2] <= T.SEC_FEEDBACK and band(sec, b[2]) ~= 0 then failed[#failed + 1] = b[1] end
        end
        secitem:add_proto_expert_info(E.feedback, "the peer's previous message: " .. table.concat(failed, ", "))
        ctx.info = ctx.info .. " [" .. table.concat(failed, ", ") .. "]"
    end
    if size == T.HEADER_SIZE and total ~= size and band(sec, T.SEC_FEEDBACK) ~= 0 then
        ti:add(F.notice, tvb(26, 1), true):set_generated()
        ti:add_proto_expert_info(E.notice, string.format(
            "header echo of %s seq %d (%d bytes): %s", name, seq, total, table.concat(names, ", ")))
        return ctx.info .. " [header echo]"
    end
    if total < T.HEADER_SIZE then
        malformed(tl, string.format("total_length %d is shorter than the header", total))
        ctx.errors = ctx.errors + 1
    elseif total ~= size then
        malformed(tl, string.format("total_length says %d bytes, message has %d", total, size))
        ctx.errors = ctx.errors + 1
    end
    if not T.layouts[cmd] then
        ci:add_proto_expert_info(E.unknown_command, string.format("command 0x%04X is not in appendix D", cmd))
        if size > T.HEADER_SIZE then ti:add(F.body, tvb(T.HEADER_SIZE)) end
        return ctx.info .. " [unknown command]"
    end

    local stop = size
    local has_digest = false
    if band(sec, T.SEC_DIGEST) ~= 0 then
        local o = size - T.TLV_HEADER - T.DIGEST_SIZE
        if o >= T.HEADER_SIZE and tvb(o, 2):uint() == T.DIGEST_TAG and tvb(o + 2, 2):uint() == T.DIGEST_SIZE then
            stop = o
            has_digest = true
        else
            malformed(secitem, "security byte says digest but no 16-byte E021 ends the message")
            ctx.errors = ctx.errors + 1
        end
    end
    local values = {}
    if band(sec, T.SEC_FULL_OR_SUBPACKET) ~= 0 then
        local tlvs = dissect_tlvs(tvb, ti, T.HEADER_SIZE, stop, ctx)
        if #tlvs ~= 1 then
            malformed(secitem, string.format(
                "bit 0x10 set: content must be one E042, 0x4008 or E044 TLV, found %d TLVs", #tlvs))
            ctx.errors = ctx.errors + 1
        end
        local t = tlvs[1]
        if t then
            if t[1] == T.TAG_SUBPACKET or t[1] == T.TAG_ENC_SUBPACKET then
                dissect_subpacket(tvb, pinfo, ti, t, hdr, ctx)
            elseif t[1] == T.TAG_FULL then
                ctx.info = ctx.info .. " [encrypted]"
            else
                malformed(t[4], string.format("bit 0x10 set but content is TLV 0x%04X", t[1]))
                ctx.errors = ctx.errors + 1
            end
        end
    else
        local tlvs
        values, tlvs = dissect_content(tvb, ti, cmd, T.HEADER_SIZE, stop, ctx)
        for _, t in ipairs(tlvs) do
            if t[1] == T.TAG_PARTIAL then ctx.info = ctx.info .. " [E043 encrypted]" end
        end
    end
    if has_digest then
        ctx.digest_item = add_tlv(tvb, ti, stop, T.DIGEST_TAG, T.DIGEST_SIZE, ctx)
        check_digest(tvb, pinfo, ti, hdr, values, stop, ctx)
    end
    -- A LOGIN_ACK opens the logical connection: its CURTIME signs what follows (first pass).
    if cmd == T.LOGIN_ACK and values.curtime and not pinfo.visited then
        state.session_ts[serial_raw] = values.curtime
    end
    if ctx.errors > 0 then ctx.info = ctx.info .. " [malformed]" end
    return ctx.info
end

local function set_info(pinfo, text, first)
    pinfo.cols.protocol = "WMMP-T"
    if first then pinfo.cols.info = text else pinfo.cols.info:append(" | " .. text) end
end

local pdus_in_frame = 0

local function tcp_pdu_length(tvb, pinfo, offset)
    local total = tvb(offset, 2):uint()
    if total < T.HEADER_SIZE then
        return tvb:len() - offset    -- the stream lost its framing: the rest, shown as malformed
    end
    return total
end

local function tcp_pdu(tvb, pinfo, tree)
    set_info(pinfo, dissect_message(tvb, pinfo, tree, true), pdus_in_frame == 0)
    pdus_in_frame = pdus_in_frame + 1
    return tvb:len()
end

function wmmp.dissector(tvb, pinfo, tree)
    if tvb:len() == 0 then return 0 end
    if pinfo.port_type == 2 then     -- TCP
        pdus_in_frame = 0
        dissect_tcp_pdus(tvb, tree, 2, tcp_pdu_length, tcp_pdu, true)
        return tvb:len()
    end
    set_info(pinfo, dissect_message(tvb, pinfo, tree, false), true)
    return tvb:len()
end

udp_table:add_for_decode_as(wmmp)
tcp_table:add_for_decode_as(wmmp)
register_ports()
