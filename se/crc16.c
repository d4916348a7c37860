#include <vouch/se_proto.h>

/* CRC-16/X-25, bitwise. Frames are at most ~1 KiB, so a table buys little and
 * this stays small enough for an MCU. A checksum, not a security mechanism:
 * integrity against an attacker comes from the C-MAC and R-MAC. */
uint16_t vouch_crc16_x25(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0x8408u) : (uint16_t)(crc >> 1);
    }
    return (uint16_t)(crc ^ 0xFFFFu);
}
