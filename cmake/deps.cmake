# Third-party libraries, found through pkg-config (tools/install-deps installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET openssl>=3.0)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(CHECK REQUIRED IMPORTED_TARGET check)
# The kiosk's touch page and hallweb, the hall's web layer.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
# The QR code of the kiosk's ticket preview (an SVG the page shows).
pkg_check_modules(QRENCODE REQUIRED IMPORTED_TARGET libqrencode)
# halld's webhook of supervision alerts: HTTP(S) to SMS or WeChat gateways.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
find_program(PROTOC_C protoc-c REQUIRED)
# hallbench only: the clients of the systems halld is measured against.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
# Device drivers: the USB printer and ID-card reader (libusb), the RS-485 bus
# (libmodbus), and umockdev for the tests that stand in for USB hardware.
pkg_check_modules(LIBUSB REQUIRED IMPORTED_TARGET libusb-1.0)
pkg_check_modules(MODBUS REQUIRED IMPORTED_TARGET libmodbus)
pkg_check_modules(UMOCKDEV REQUIRED IMPORTED_TARGET umockdev-1.0)
