/*  token — bearer tokens; see include/token.h. */
#include "token.h"
#include <sodium.h>
#include <string.h>
#include <strings.h>

//  Initialises libsodium once.
int
token_init (void)
{
    return sodium_init () < 0? -1: 0;
}

//  A new random token.
int
token_new (char *text)
{
    if (token_init () != 0)
        return -1;
    unsigned char bytes [TOKEN_BYTES];
    randombytes_buf (bytes, sizeof bytes);
    sodium_bin2base64 (text, TOKEN_TEXT_MAX, bytes, sizeof bytes,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero (bytes, sizeof bytes);
    return 0;
}

//  The hash of a token, as hex.
void
token_hash (const char *text, size_t len, char *hex)
{
    unsigned char hash [32];
    crypto_generichash (hash, sizeof hash, (const unsigned char *) text, len, NULL, 0);
    sodium_bin2hex (hex, TOKEN_HASH_MAX, hash, sizeof hash);
}

//  Two hex hashes compared in constant time.
bool
token_hash_equal (const char *hex_a, const char *hex_b)
{
    if (!hex_a || !hex_b
    ||  strlen (hex_a) != TOKEN_HASH_HEX || strlen (hex_b) != TOKEN_HASH_HEX)
        return false;
    return sodium_memcmp (hex_a, hex_b, TOKEN_HASH_HEX) == 0;
}

//  The shape of a customer token.
bool
token_well_formed (const char *text)
{
    if (!text || strlen (text) != TOKEN_TEXT_LEN)
        return false;
    for (const char *p = text; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
           || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return false;
    return true;
}

//  The token of a Bearer Authorization header.
const char *
token_of_header (const char *authorization)
{
    if (!authorization || strncasecmp (authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    return *token? token: NULL;
}
