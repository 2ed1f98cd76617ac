/*  token — bearer tokens: customers' and the admin's.

    A customer token is 32 bytes from libsodium's CSPRNG, base64url without
    padding (TOKEN_TEXT_LEN characters), shown once when it is issued. The
    command store keeps only its hash (BLAKE2b-256 as lowercase hex,
    TOKEN_HASH_HEX characters), so a copy of the store hands out no
    credential. Hashes are compared in constant time. */
#ifndef TOKEN_H_INCLUDED
#define TOKEN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_BYTES     32                  //  256 bits of randomness
#define TOKEN_TEXT_LEN  43                  //  base64url of 32 bytes, no padding
#define TOKEN_TEXT_MAX  (TOKEN_TEXT_LEN + 1)
#define TOKEN_HASH_HEX  64                  //  hex of a 32-byte hash
#define TOKEN_HASH_MAX  (TOKEN_HASH_HEX + 1)

//  Initialises libsodium (idempotent, thread-safe). 0, or -1 when it cannot.
int token_init (void);

//  Writes a new random token into text (TOKEN_TEXT_MAX bytes). 0 or -1.
int token_new (char *text);

//  Writes the hash of a token (any text) as hex into hex (TOKEN_HASH_MAX bytes).
void token_hash (const char *text, size_t len, char *hex);

//  True when two hex hashes are equal, compared in constant time.
bool token_hash_equal (const char *hex_a, const char *hex_b);

//  True when text has the shape of a customer token (TOKEN_TEXT_LEN base64url
//  characters); says nothing of whether it was ever issued.
bool token_well_formed (const char *text);

//  The token of an "Authorization: Bearer <token>" header value, or NULL
//  when the header is missing or of another scheme.
const char *token_of_header (const char *authorization);

#endif
