/*
 * ICU's "stub data" library: a valid ICU common-data header with no entries,
 * exported under the name ICU 72's common library (libicuuc) links against.
 *
 * Origin: ICU 72, icu4c/source/stubdata/stubdata.cpp and stubdata.h
 * (https://github.com/unicode-org/icu, tag release-72-1), restated in C with
 * the same layout and values. ICU itself builds this library as libicudata
 * when its data is packaged as files (configure --with-data-packaging=files);
 * ICU then looks for its data as files under ICU_DATA, and the appliance
 * ships none. Licence: ICU's (Unicode, Inc. and IBM), see LICENSE-ICU beside
 * this file.
 *
 *   Copyright (C) 2016 and later: Unicode, Inc. and others.
 *   Copyright (C) 2001, International Business Machines
 *   Corporation and others.  All Rights Reserved.
 *
 * The symbol name is ICU's U_ICUDATA_ENTRY_POINT for version 72 (icudt72_dat,
 * x86-64 little-endian, ASCII charset family); the builder checks that this
 * library exports every symbol of the one it replaces.
 */

#include <stdint.h>

/* ICU's UDataInfo (unicode/udata.h). */
typedef struct {
    uint16_t size;
    uint16_t reservedWord;
    uint8_t isBigEndian;
    uint8_t charsetFamily;
    uint8_t sizeofUChar;
    uint8_t reservedByte;
    uint8_t dataFormat[4];
    uint8_t formatVersion[4];
    uint8_t dataVersion[4];
} UDataInfo;

/* stubdata.h's ICU_Data_Header: a pointer table of contents with no entries. */
typedef struct {
    uint16_t headerSize;
    uint8_t magic1, magic2;
    UDataInfo info;
    char padding[8];
    uint32_t count, reserved;
    int fakeNameAndData[4];
} ICU_Data_Header;

__attribute__((visibility("default"), aligned(16)))
const ICU_Data_Header icudt72_dat = {
    32,   /* headerSize */
    0xda, /* magic1 (see struct MappedData in ICU's udata.cpp) */
    0x27, /* magic2 */
    {
        sizeof(UDataInfo),        /* size */
        0,                        /* reservedWord */
        0,                        /* isBigEndian: little-endian */
        0,                        /* charsetFamily: U_ASCII_FAMILY */
        2,                        /* sizeofUChar: sizeof(char16_t) */
        0,                        /* reservedByte */
        {0x54, 0x6f, 0x43, 0x50}, /* dataFormat "ToCP" */
        {1, 0, 0, 0},             /* formatVersion */
        {0, 0, 0, 0},             /* dataVersion */
    },
    {'s', 't', 'u', 'b', 'd', 'a', 't', 'a'}, /* padding */
    0,            /* count: no entries */
    0,            /* reserved */
    {0, 0, 0, 0}, /* name and data of one entry, in case (count says none) */
};
