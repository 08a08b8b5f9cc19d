"""The And-link objects (And-link spec section 5.2, with 4.1.5, 4.2.2, 4.4.4
and 4.5): 0 Security, 1 Server, 2 Access Control, 3 Device, 4 Connectivity
Monitoring, 5 Firmware Update, 6 Location, 7 Connectivity Statistics, 19
BinaryAppDataContainer, 20 Event Log, as object tables (objects.py).

Resource lists are OMA's (LwM2M TS 1.0 Appendix E and the OMNA registry
files the spec points to: Device v1.1, Firmware Update v1.0.2,
BinaryAppDataContainer v1.0, Event Log v1.0), with these And-link decisions
(docs/ANDLINK.md, "Data model"):

* /3/0/1 Model Number carries the product token and /3/0/17 Device Type the
  device type code (sections 3.5, 4.1.5): both mandatory here, with /3/0/3
  Firmware Version (the module's firmware), /3/0/19 Software Version (the
  MCU's software, 4.1.5 and 4.4.4) and /4/0/8 Cell ID, which the platform
  reads at registration (4.1.5).
* 4.4.4 adds /3/0/26261 MCU Memory Free (R, Integer; the unit is not given,
  kilobytes assumed as for /3/0/10) and /5/0/26550 Switch to MCU Update (E).
* /19/x/0 Data is ONE value of type JSON (the parameter document of 4.2.2),
  not OMA's multiple opaque resource: the spec reads and writes /19/1/0 as a
  single value.
* Location 0-3 are Strings as in TS 1.0 Appendix E.7: the spec's examples
  (6.5.4, 6.9.4) carry latitude "26.0" and longitude "171.0" as text in TLV.
* Objects 0, 1, 3 are mandatory (OMA) and so are 4-7 (section 5.2 lists them)
  and 19 (4.1.5 reads /19/1/0 at registration).  2 Access Control is
  optional: with the one Server of section 4.1 it has no instance to hold
  (section 5.2 lists it).  20 Event Log is optional: 4.5 "recommends" it.
* Security resources have no operations: only a Bootstrap-Server writes
  them (Store(..., bootstrap=True) operations).
"""

from andlink.lwm2m.codes import R, W, E, RW, MULTI, MAND, STR, INT, FLT, BOOL, OPQ, TIME, LNK, JSN
from andlink.lwm2m.objects import obj

SECURITY = obj(0, "LwM2M Security", MULTI | MAND, (
    (0, "LwM2M Server URI", STR | MAND),
    (1, "Bootstrap-Server", BOOL | MAND),
    (2, "Security Mode", INT | MAND),
    (3, "Public Key or Identity", OPQ | MAND),
    (4, "Server Public Key", OPQ | MAND),
    (5, "Secret Key", OPQ | MAND),
    (6, "SMS Security Mode", INT),
    (7, "SMS Binding Key Parameters", OPQ),
    (8, "SMS Binding Secret Key(s)", OPQ),
    (9, "LwM2M Server SMS Number", STR),
    (10, "Short Server ID", INT),
    (11, "Client Hold Off Time", INT),
    (12, "Bootstrap-Server Account Timeout", INT),
))

SERVER = obj(1, "LwM2M Server", MULTI | MAND, (
    (0, "Short Server ID", R | INT | MAND),
    (1, "Lifetime", RW | INT | MAND),
    (2, "Default Minimum Period", RW | INT),
    (3, "Default Maximum Period", RW | INT),
    (4, "Disable", E),
    (5, "Disable Timeout", RW | INT),
    (6, "Notification Storing When Disabled or Offline", RW | BOOL | MAND),
    (7, "Binding", RW | STR | MAND),
    (8, "Registration Update Trigger", E | MAND),
))

ACCESS_CONTROL = obj(2, "LwM2M Access Control", MULTI, (
    (0, "Object ID", R | INT | MAND),
    (1, "Object Instance ID", R | INT | MAND),
    (2, "ACL", RW | INT | MULTI),
    (3, "Access Control Owner", RW | INT | MAND),
))

DEVICE = obj(3, "Device", MAND, (
    (0, "Manufacturer", R | STR),
    (1, "Model Number", R | STR | MAND),
    (2, "Serial Number", R | STR),
    (3, "Firmware Version", R | STR | MAND),
    (4, "Reboot", E | MAND),
    (5, "Factory Reset", E),
    (6, "Available Power Sources", R | INT | MULTI),
    (7, "Power Source Voltage", R | INT | MULTI),
    (8, "Power Source Current", R | INT | MULTI),
    (9, "Battery Level", R | INT),
    (10, "Memory Free", R | INT),
    (11, "Error Code", R | INT | MULTI | MAND),
    (12, "Reset Error Code", E),
    (13, "Current Time", RW | TIME),
    (14, "UTC Offset", RW | STR),
    (15, "Timezone", RW | STR),
    (16, "Supported Binding and Modes", R | STR | MAND),
    (17, "Device Type", R | STR | MAND),
    (18, "Hardware Version", R | STR),
    (19, "Software Version", R | STR | MAND),
    (20, "Battery Status", R | INT),
    (21, "Memory Total", R | INT),
    (22, "ExtDevInfo", R | LNK | MULTI),
    (26261, "MCU Memory Free", R | INT),
), "1.1")

CONN_MON = obj(4, "Connectivity Monitoring", MAND, (
    (0, "Network Bearer", R | INT | MAND),
    (1, "Available Network Bearer", R | INT | MULTI | MAND),
    (2, "Radio Signal Strength", R | INT | MAND),
    (3, "Link Quality", R | INT),
    (4, "IP Addresses", R | STR | MULTI | MAND),
    (5, "Router IP Addresses", R | STR | MULTI),
    (6, "Link Utilization", R | INT),
    (7, "APN", R | STR | MULTI),
    (8, "Cell ID", R | INT | MAND),
    (9, "SMNC", R | INT),
    (10, "SMCC", R | INT),
))

FIRMWARE = obj(5, "Firmware Update", MAND, (
    (0, "Package", W | OPQ | MAND),
    (1, "Package URI", RW | STR | MAND),
    (2, "Update", E | MAND),
    (3, "State", R | INT | MAND),
    (5, "Update Result", R | INT | MAND),
    (6, "PkgName", R | STR),
    (7, "PkgVersion", R | STR),
    (8, "Firmware Update Protocol Support", R | INT | MULTI),
    (9, "Firmware Update Delivery Method", R | INT | MAND),
    (26550, "Switch to MCU Update", E),
))

LOCATION = obj(6, "Location", MAND, (
    (0, "Latitude", R | STR | MAND),
    (1, "Longitude", R | STR | MAND),
    (2, "Altitude", R | STR),
    (3, "Uncertainty", R | STR),
    (4, "Velocity", R | OPQ),
    (5, "Timestamp", R | TIME | MAND),
    (6, "Speed", R | FLT),
))

CONN_STATS = obj(7, "Connectivity Statistics", MAND, (
    (0, "SMS Tx Counter", R | INT),
    (1, "SMS Rx Counter", R | INT),
    (2, "Tx Data", R | INT),
    (3, "Rx Data", R | INT),
    (4, "Max Message Size", R | INT),
    (5, "Average Message Size", R | INT),
    (6, "Start", E | MAND),
    (7, "Stop", E | MAND),
    (8, "Collection Period", RW | INT),
))

APP_DATA = obj(19, "BinaryAppDataContainer", MULTI | MAND, (
    (0, "Data", RW | JSN | MAND),
    (1, "Data Priority", RW | INT),
    (2, "Data Creation Time", RW | TIME),
    (3, "Data Description", RW | STR),
    (4, "Data Format", RW | STR),
    (5, "App ID", RW | INT),
))

EVENT_LOG = obj(20, "Event Log", 0, (
    (4010, "LogClass", RW | INT),
    (4011, "LogStart", E),
    (4012, "LogStop", E),
    (4013, "LogStatus", R | INT),
    (4014, "LogData", R | OPQ | MAND),
    (4015, "LogDataFormat", RW | INT),
))

ANDLINK = (SECURITY, SERVER, ACCESS_CONTROL, DEVICE, CONN_MON, FIRMWARE, LOCATION, CONN_STATS, APP_DATA,
           EVENT_LOG)

# The paths the And-link flows name (sections 4.1.2-4.1.5, 4.2.2, 4.4.2, 4.4.4)
BS_SERVER_URI = (0, 0, 0)
SERVER_URI = (0, 1, 0)
LIFETIME = (1, 0, 1)
PRODUCT_TOKEN = (3, 0, 1)
SERIAL_NUMBER = (3, 0, 2)
FIRMWARE_VERSION = (3, 0, 3)
REBOOT = (3, 0, 4)
BATTERY_LEVEL = (3, 0, 9)
MEMORY_FREE = (3, 0, 10)
ERROR_CODE = (3, 0, 11)
DEVICE_TYPE = (3, 0, 17)
SOFTWARE_VERSION = (3, 0, 19)
MCU_MEMORY_FREE = (3, 0, 26261)
SIGNAL_STRENGTH = (4, 0, 2)
CELL_ID = (4, 0, 8)
FW_PACKAGE_URI = (5, 0, 1)
FW_UPDATE = (5, 0, 2)
FW_STATE = (5, 0, 3)
FW_RESULT = (5, 0, 5)
FW_MCU_SWITCH = (5, 0, 26550)
PARAMS = (19, 1, 0)
