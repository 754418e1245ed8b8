
/*
 * Copyright (C) objspace authors
 *
 * aws-chunked decoder (S3 "Transferring Payload in Multiple Chunks",
 * "Trailing headers"): an incremental state machine that copies only the
 * chunk header line and a trailer line (both bounded), hands chunk data
 * back as slices of the caller's input, and checks every chunk signature,
 * the trailer signature and the trailing checksum.
 *
 * Pure code: nginx types and macros only, OpenSSL and zlib for the
 * digests, a table-driven CRC-32C (Castagnoli) and CRC-64/NVME here.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <zlib.h>

#include "ngx_http_objspace_chunked.h"


enum {
    sw_size = 0,        /* chunk header line, copied into ch->line */
    sw_data,            /* chunk data, handed out as slices */
    sw_data_cr,
    sw_data_lf,
    sw_trailer,         /* trailer lines, copied into ch->trailer */
    sw_done,            /* complete; an optional CRLF may follow */
    sw_done_lf,
    sw_done_end,
    sw_error
};


#define NGX_HTTP_OBJSPACE_CHUNK_SIG_EXT  ";chunk-signature="
#define NGX_HTTP_OBJSPACE_TRAILER_SIG    "x-amz-trailer-signature"


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  alg;
} ngx_http_objspace_cksum_name_t;


static ngx_int_t ngx_http_objspace_chunked_header(
    ngx_http_objspace_chunked_t *ch);
static ngx_int_t ngx_http_objspace_chunked_verify_chunk(
    ngx_http_objspace_chunked_t *ch, const u_char *hash);
static ngx_int_t ngx_http_objspace_chunked_trailer_line(
    ngx_http_objspace_chunked_t *ch);
static ngx_int_t ngx_http_objspace_chunked_fail(
    ngx_http_objspace_chunked_t *ch, ngx_uint_t err);
static ngx_int_t ngx_http_objspace_chunked_hexval(u_char c);
static ngx_int_t ngx_http_objspace_chunked_caseeq(const u_char *a,
    size_t alen, const u_char *b, size_t blen);
static void ngx_http_objspace_chunked_trim(ngx_str_t *s);
static uint32_t ngx_http_objspace_crc32c(uint32_t crc, const u_char *p,
    size_t len);
static uint64_t ngx_http_objspace_crc64nvme(uint64_t crc, const u_char *p,
    size_t len);


static ngx_http_objspace_cksum_name_t  ngx_http_objspace_cksum_names[] = {
    { ngx_string("x-amz-checksum-crc32"), NGX_HTTP_OBJSPACE_CKSUM_CRC32 },
    { ngx_string("x-amz-checksum-crc32c"), NGX_HTTP_OBJSPACE_CKSUM_CRC32C },
    { ngx_string("x-amz-checksum-sha1"), NGX_HTTP_OBJSPACE_CKSUM_SHA1 },
    { ngx_string("x-amz-checksum-sha256"), NGX_HTTP_OBJSPACE_CKSUM_SHA256 },
    { ngx_string("x-amz-checksum-crc64nvme"),
      NGX_HTTP_OBJSPACE_CKSUM_CRC64NVME },
    { ngx_null_string, NGX_HTTP_OBJSPACE_CKSUM_NONE }
};


/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) and CRC-64/NVME
 * (reflected polynomial 0x9a6c9329ac4bc9b5) byte tables, generated once
 * with the usual right-shifting loop; check values for "123456789" are
 * 0xe3069283 and 0xae8b14860a799888 (tested).
 */

static const uint32_t  ngx_http_objspace_crc32c_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
    0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
    0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
    0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
    0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
    0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
    0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
    0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
    0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
    0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
    0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
    0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
    0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
    0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
    0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
    0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
    0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
    0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
    0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
    0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
    0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351
};


static const uint64_t  ngx_http_objspace_crc64nvme_table[256] = {
    0x0000000000000000ULL, 0x7f6ef0c830358979ULL, 0xfedde190606b12f2ULL,
    0x81b31158505e9b8bULL, 0xc962e5739841b68fULL, 0xb60c15bba8743ff6ULL,
    0x37bf04e3f82aa47dULL, 0x48d1f42bc81f2d04ULL, 0xa61cecb46814fe75ULL,
    0xd9721c7c5821770cULL, 0x58c10d24087fec87ULL, 0x27affdec384a65feULL,
    0x6f7e09c7f05548faULL, 0x1010f90fc060c183ULL, 0x91a3e857903e5a08ULL,
    0xeecd189fa00bd371ULL, 0x78e0ff3b88be6f81ULL, 0x078e0ff3b88be6f8ULL,
    0x863d1eabe8d57d73ULL, 0xf953ee63d8e0f40aULL, 0xb1821a4810ffd90eULL,
    0xceecea8020ca5077ULL, 0x4f5ffbd87094cbfcULL, 0x30310b1040a14285ULL,
    0xdefc138fe0aa91f4ULL, 0xa192e347d09f188dULL, 0x2021f21f80c18306ULL,
    0x5f4f02d7b0f40a7fULL, 0x179ef6fc78eb277bULL, 0x68f0063448deae02ULL,
    0xe943176c18803589ULL, 0x962de7a428b5bcf0ULL, 0xf1c1fe77117cdf02ULL,
    0x8eaf0ebf2149567bULL, 0x0f1c1fe77117cdf0ULL, 0x7072ef2f41224489ULL,
    0x38a31b04893d698dULL, 0x47cdebccb908e0f4ULL, 0xc67efa94e9567b7fULL,
    0xb9100a5cd963f206ULL, 0x57dd12c379682177ULL, 0x28b3e20b495da80eULL,
    0xa900f35319033385ULL, 0xd66e039b2936bafcULL, 0x9ebff7b0e12997f8ULL,
    0xe1d10778d11c1e81ULL, 0x606216208142850aULL, 0x1f0ce6e8b1770c73ULL,
    0x8921014c99c2b083ULL, 0xf64ff184a9f739faULL, 0x77fce0dcf9a9a271ULL,
    0x08921014c99c2b08ULL, 0x4043e43f0183060cULL, 0x3f2d14f731b68f75ULL,
    0xbe9e05af61e814feULL, 0xc1f0f56751dd9d87ULL, 0x2f3dedf8f1d64ef6ULL,
    0x50531d30c1e3c78fULL, 0xd1e00c6891bd5c04ULL, 0xae8efca0a188d57dULL,
    0xe65f088b6997f879ULL, 0x9931f84359a27100ULL, 0x1882e91b09fcea8bULL,
    0x67ec19d339c963f2ULL, 0xd75adabd7a6e2d6fULL, 0xa8342a754a5ba416ULL,
    0x29873b2d1a053f9dULL, 0x56e9cbe52a30b6e4ULL, 0x1e383fcee22f9be0ULL,
    0x6156cf06d21a1299ULL, 0xe0e5de5e82448912ULL, 0x9f8b2e96b271006bULL,
    0x71463609127ad31aULL, 0x0e28c6c1224f5a63ULL, 0x8f9bd7997211c1e8ULL,
    0xf0f5275142244891ULL, 0xb824d37a8a3b6595ULL, 0xc74a23b2ba0eececULL,
    0x46f932eaea507767ULL, 0x3997c222da65fe1eULL, 0xafba2586f2d042eeULL,
    0xd0d4d54ec2e5cb97ULL, 0x5167c41692bb501cULL, 0x2e0934dea28ed965ULL,
    0x66d8c0f56a91f461ULL, 0x19b6303d5aa47d18ULL, 0x980521650afae693ULL,
    0xe76bd1ad3acf6feaULL, 0x09a6c9329ac4bc9bULL, 0x76c839faaaf135e2ULL,
    0xf77b28a2faafae69ULL, 0x8815d86aca9a2710ULL, 0xc0c42c4102850a14ULL,
    0xbfaadc8932b0836dULL, 0x3e19cdd162ee18e6ULL, 0x41773d1952db919fULL,
    0x269b24ca6b12f26dULL, 0x59f5d4025b277b14ULL, 0xd846c55a0b79e09fULL,
    0xa72835923b4c69e6ULL, 0xeff9c1b9f35344e2ULL, 0x90973171c366cd9bULL,
    0x1124202993385610ULL, 0x6e4ad0e1a30ddf69ULL, 0x8087c87e03060c18ULL,
    0xffe938b633338561ULL, 0x7e5a29ee636d1eeaULL, 0x0134d92653589793ULL,
    0x49e52d0d9b47ba97ULL, 0x368bddc5ab7233eeULL, 0xb738cc9dfb2ca865ULL,
    0xc8563c55cb19211cULL, 0x5e7bdbf1e3ac9decULL, 0x21152b39d3991495ULL,
    0xa0a63a6183c78f1eULL, 0xdfc8caa9b3f20667ULL, 0x97193e827bed2b63ULL,
    0xe877ce4a4bd8a21aULL, 0x69c4df121b863991ULL, 0x16aa2fda2bb3b0e8ULL,
    0xf86737458bb86399ULL, 0x8709c78dbb8deae0ULL, 0x06bad6d5ebd3716bULL,
    0x79d4261ddbe6f812ULL, 0x3105d23613f9d516ULL, 0x4e6b22fe23cc5c6fULL,
    0xcfd833a67392c7e4ULL, 0xb0b6c36e43a74e9dULL, 0x9a6c9329ac4bc9b5ULL,
    0xe50263e19c7e40ccULL, 0x64b172b9cc20db47ULL, 0x1bdf8271fc15523eULL,
    0x530e765a340a7f3aULL, 0x2c608692043ff643ULL, 0xadd397ca54616dc8ULL,
    0xd2bd67026454e4b1ULL, 0x3c707f9dc45f37c0ULL, 0x431e8f55f46abeb9ULL,
    0xc2ad9e0da4342532ULL, 0xbdc36ec59401ac4bULL, 0xf5129aee5c1e814fULL,
    0x8a7c6a266c2b0836ULL, 0x0bcf7b7e3c7593bdULL, 0x74a18bb60c401ac4ULL,
    0xe28c6c1224f5a634ULL, 0x9de29cda14c02f4dULL, 0x1c518d82449eb4c6ULL,
    0x633f7d4a74ab3dbfULL, 0x2bee8961bcb410bbULL, 0x548079a98c8199c2ULL,
    0xd53368f1dcdf0249ULL, 0xaa5d9839ecea8b30ULL, 0x449080a64ce15841ULL,
    0x3bfe706e7cd4d138ULL, 0xba4d61362c8a4ab3ULL, 0xc52391fe1cbfc3caULL,
    0x8df265d5d4a0eeceULL, 0xf29c951de49567b7ULL, 0x732f8445b4cbfc3cULL,
    0x0c41748d84fe7545ULL, 0x6bad6d5ebd3716b7ULL, 0x14c39d968d029fceULL,
    0x95708ccedd5c0445ULL, 0xea1e7c06ed698d3cULL, 0xa2cf882d2576a038ULL,
    0xdda178e515432941ULL, 0x5c1269bd451db2caULL, 0x237c997575283bb3ULL,
    0xcdb181ead523e8c2ULL, 0xb2df7122e51661bbULL, 0x336c607ab548fa30ULL,
    0x4c0290b2857d7349ULL, 0x04d364994d625e4dULL, 0x7bbd94517d57d734ULL,
    0xfa0e85092d094cbfULL, 0x856075c11d3cc5c6ULL, 0x134d926535897936ULL,
    0x6c2362ad05bcf04fULL, 0xed9073f555e26bc4ULL, 0x92fe833d65d7e2bdULL,
    0xda2f7716adc8cfb9ULL, 0xa54187de9dfd46c0ULL, 0x24f29686cda3dd4bULL,
    0x5b9c664efd965432ULL, 0xb5517ed15d9d8743ULL, 0xca3f8e196da80e3aULL,
    0x4b8c9f413df695b1ULL, 0x34e26f890dc31cc8ULL, 0x7c339ba2c5dc31ccULL,
    0x035d6b6af5e9b8b5ULL, 0x82ee7a32a5b7233eULL, 0xfd808afa9582aa47ULL,
    0x4d364994d625e4daULL, 0x3258b95ce6106da3ULL, 0xb3eba804b64ef628ULL,
    0xcc8558cc867b7f51ULL, 0x8454ace74e645255ULL, 0xfb3a5c2f7e51db2cULL,
    0x7a894d772e0f40a7ULL, 0x05e7bdbf1e3ac9deULL, 0xeb2aa520be311aafULL,
    0x944455e88e0493d6ULL, 0x15f744b0de5a085dULL, 0x6a99b478ee6f8124ULL,
    0x224840532670ac20ULL, 0x5d26b09b16452559ULL, 0xdc95a1c3461bbed2ULL,
    0xa3fb510b762e37abULL, 0x35d6b6af5e9b8b5bULL, 0x4ab846676eae0222ULL,
    0xcb0b573f3ef099a9ULL, 0xb465a7f70ec510d0ULL, 0xfcb453dcc6da3dd4ULL,
    0x83daa314f6efb4adULL, 0x0269b24ca6b12f26ULL, 0x7d0742849684a65fULL,
    0x93ca5a1b368f752eULL, 0xeca4aad306bafc57ULL, 0x6d17bb8b56e467dcULL,
    0x12794b4366d1eea5ULL, 0x5aa8bf68aecec3a1ULL, 0x25c64fa09efb4ad8ULL,
    0xa4755ef8cea5d153ULL, 0xdb1bae30fe90582aULL, 0xbcf7b7e3c7593bd8ULL,
    0xc399472bf76cb2a1ULL, 0x422a5673a732292aULL, 0x3d44a6bb9707a053ULL,
    0x759552905f188d57ULL, 0x0afba2586f2d042eULL, 0x8b48b3003f739fa5ULL,
    0xf42643c80f4616dcULL, 0x1aeb5b57af4dc5adULL, 0x6585ab9f9f784cd4ULL,
    0xe436bac7cf26d75fULL, 0x9b584a0fff135e26ULL, 0xd389be24370c7322ULL,
    0xace74eec0739fa5bULL, 0x2d545fb4576761d0ULL, 0x523aaf7c6752e8a9ULL,
    0xc41748d84fe75459ULL, 0xbb79b8107fd2dd20ULL, 0x3acaa9482f8c46abULL,
    0x45a459801fb9cfd2ULL, 0x0d75adabd7a6e2d6ULL, 0x721b5d63e7936bafULL,
    0xf3a84c3bb7cdf024ULL, 0x8cc6bcf387f8795dULL, 0x620ba46c27f3aa2cULL,
    0x1d6554a417c62355ULL, 0x9cd645fc4798b8deULL, 0xe3b8b53477ad31a7ULL,
    0xab69411fbfb21ca3ULL, 0xd407b1d78f8795daULL, 0x55b4a08fdfd90e51ULL,
    0x2ada5047efec8728ULL
};


/*
 * Every x-amz-trailer name the decoder understands is one checksum; the
 * canonical (lowercase) name is kept as a static string.
 */

ngx_int_t
ngx_http_objspace_chunked_init(ngx_http_objspace_chunked_t *ch,
    ngx_uint_t mode, ngx_str_t *trailer, off_t expected, size_t max_chunk,
    const u_char *key, ngx_str_t *amz_date, ngx_str_t *scope,
    const u_char *seed)
{
    ngx_str_t   t;
    ngx_uint_t  i;

    ngx_memzero(ch, sizeof(ngx_http_objspace_chunked_t));

    ch->mode = mode;
    ch->expected = expected;
    ch->max_chunk = max_chunk;
    ch->state = sw_size;

    if (mode > NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
        return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
    }

    if (trailer) {
        t = *trailer;
        ngx_http_objspace_chunked_trim(&t);

    } else {
        ngx_str_null(&t);
    }

    if (mode == NGX_HTTP_OBJSPACE_CHUNKED_SIGNED) {
        if (t.len) {
            return ngx_http_objspace_chunked_fail(ch,
                                        NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER);
        }

    } else {
        for (i = 0; ngx_http_objspace_cksum_names[i].name.len; i++) {
            if (ngx_http_objspace_chunked_caseeq(t.data, t.len,
                                 ngx_http_objspace_cksum_names[i].name.data,
                                 ngx_http_objspace_cksum_names[i].name.len))
            {
                break;
            }
        }

        if (ngx_http_objspace_cksum_names[i].name.len == 0) {
            return ngx_http_objspace_chunked_fail(ch,
                                        NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER);
        }

        ch->trailer_name = ngx_http_objspace_cksum_names[i].name;
        ch->cksum = ngx_http_objspace_cksum_names[i].alg;
        ngx_http_objspace_cksum_init(ch->cksum, &ch->ck);
    }

    if (mode == NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
        return NGX_OK;
    }

    if (key == NULL || seed == NULL || amz_date == NULL || scope == NULL
        || amz_date->len != NGX_HTTP_OBJSPACE_AMZ_DATE_LEN
        || scope->len > sizeof(ch->scope))
    {
        return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
    }

    ngx_memcpy(ch->key, key, NGX_HTTP_OBJSPACE_SHA256_LEN);
    ngx_memcpy(ch->prev, seed, NGX_HTTP_OBJSPACE_SHA256_LEN);
    ngx_memcpy(ch->amz_date, amz_date->data, NGX_HTTP_OBJSPACE_AMZ_DATE_LEN);
    ngx_memcpy(ch->scope, scope->data, scope->len);
    ch->scope_len = scope->len;

    return NGX_OK;
}


ngx_int_t
ngx_http_objspace_chunked_feed(ngx_http_objspace_chunked_t *ch,
    u_char **pos, u_char *last, ngx_str_t *out)
{
    u_char    *p, c;
    size_t     n;
    ngx_int_t  rc;

    p = *pos;
    rc = NGX_OK;

    if (ch->state == sw_error) {
        return NGX_ERROR;
    }

    while (p < last) {

        switch (ch->state) {

        case sw_size:
            c = *p++;

            if (c == '\n') {
                rc = ngx_http_objspace_chunked_header(ch);
                break;
            }

            if (ch->line_len == sizeof(ch->line)) {
                rc = ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
                break;
            }

            ch->line[ch->line_len++] = c;
            break;

        case sw_data:
            n = ngx_min((size_t) (last - p), ch->chunk_left);

            if (ch->mode != NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
                SHA256_Update(&ch->chunk_sha, p, n);
            }

            ngx_http_objspace_cksum_update(ch->cksum, &ch->ck, p, n);

            ch->chunk_left -= n;
            ch->decoded += n;

            if (ch->expected >= 0 && ch->decoded > ch->expected) {
                *pos = p + n;
                return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_LENGTH);
            }

            if (ch->chunk_left == 0) {
                ch->state = sw_data_cr;
            }

            out->data = p;
            out->len = n;
            *pos = p + n;

            return NGX_OK;

        case sw_data_cr:
            if (*p++ != '\r') {
                rc = ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
                break;
            }

            ch->state = sw_data_lf;
            break;

        case sw_data_lf:
            if (*p++ != '\n') {
                rc = ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
                break;
            }

            rc = ngx_http_objspace_chunked_verify_chunk(ch, NULL);
            ch->state = sw_size;
            ch->line_len = 0;
            break;

        case sw_trailer:
            c = *p++;

            if (c == '\n') {
                rc = ngx_http_objspace_chunked_trailer_line(ch);
                break;
            }

            if (ch->trailer_len == sizeof(ch->trailer)) {
                rc = ngx_http_objspace_chunked_fail(ch,
                                        NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER);
                break;
            }

            ch->trailer[ch->trailer_len++] = c;
            break;

        case sw_done:
            if (*p++ != '\r') {
                rc = ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
                break;
            }

            ch->state = sw_done_lf;
            break;

        case sw_done_lf:
            if (*p++ != '\n') {
                rc = ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
                break;
            }

            ch->state = sw_done_end;
            break;

        default: /* sw_done_end */
            p++;
            rc = ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
            break;
        }

        if (rc != NGX_OK) {
            *pos = p;
            return NGX_ERROR;
        }
    }

    *pos = p;

    if (ch->state >= sw_done) {
        return NGX_DONE;
    }

    return NGX_AGAIN;
}


void
ngx_http_objspace_chunked_wipe(ngx_http_objspace_chunked_t *ch)
{
    OPENSSL_cleanse(ch->key, sizeof(ch->key));
    OPENSSL_cleanse(ch->prev, sizeof(ch->prev));
    OPENSSL_cleanse(ch->sig, sizeof(ch->sig));
    OPENSSL_cleanse(ch->line, sizeof(ch->line));
    OPENSSL_cleanse(ch->trailer, sizeof(ch->trailer));
    OPENSSL_cleanse(&ch->chunk_sha, sizeof(ch->chunk_sha));
}


/*
 * Chunk header line "hex-size[;chunk-signature=<64 hex>]" CRLF, the
 * extension required in the signed modes and refused in the unsigned one.
 * A zero size is the final chunk: its (empty) signature is checked here,
 * the decoded length compared, and the trailer section begins.
 */

static ngx_int_t
ngx_http_objspace_chunked_header(ngx_http_objspace_chunked_t *ch)
{
    u_char     *p, *end;
    size_t      size, len;
    ngx_int_t   v;
    ngx_uint_t  digits;

    static const u_char  empty[NGX_HTTP_OBJSPACE_SHA256_LEN] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
        0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
        0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
        0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55
    };

    if (ch->line_len == 0 || ch->line[ch->line_len - 1] != '\r') {
        return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
    }

    p = ch->line;
    end = p + ch->line_len - 1;

    size = 0;
    digits = 0;

    while (p < end && (v = ngx_http_objspace_chunked_hexval(*p)) >= 0) {
        if (size > ((size_t) -1 >> 4)) {
            return ngx_http_objspace_chunked_fail(ch,
                                      NGX_HTTP_OBJSPACE_CHUNKED_ERR_TOO_LARGE);
        }

        size = (size << 4) | v;
        digits++;
        p++;
    }

    if (digits == 0) {
        return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
    }

    if (ch->mode == NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
        if (p != end) {
            return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
        }

    } else {
        len = sizeof(NGX_HTTP_OBJSPACE_CHUNK_SIG_EXT) - 1;

        if ((size_t) (end - p) != len + NGX_HTTP_OBJSPACE_SHA256_HEX_LEN
            || ngx_memcmp(p, NGX_HTTP_OBJSPACE_CHUNK_SIG_EXT, len) != 0
            || ngx_http_objspace_sigv4_unhex(ch->sig, p + len,
                                         NGX_HTTP_OBJSPACE_SHA256_HEX_LEN)
               != NGX_OK)
        {
            return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
        }
    }

    if (ch->max_chunk && size > ch->max_chunk) {
        return ngx_http_objspace_chunked_fail(ch,
                                      NGX_HTTP_OBJSPACE_CHUNKED_ERR_TOO_LARGE);
    }

    ch->chunk_size = size;
    ch->chunk_left = size;

    if (size) {
        if (ch->mode != NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
            SHA256_Init(&ch->chunk_sha);
        }

        ch->state = sw_data;
        return NGX_OK;
    }

    /* the final chunk */

    if (ch->expected >= 0 && ch->decoded != ch->expected) {
        return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_LENGTH);
    }

    if (ch->mode != NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
        if (ngx_http_objspace_chunked_verify_chunk(ch, empty) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ch->mode == NGX_HTTP_OBJSPACE_CHUNKED_SIGNED) {
        ch->state = sw_done;
        return NGX_OK;
    }

    if (ch->mode == NGX_HTTP_OBJSPACE_CHUNKED_SIGNED_TRAILER) {
        /* chunk_sha now hashes the trailer lines */
        SHA256_Init(&ch->chunk_sha);
    }

    ch->trailer_len = 0;
    ch->state = sw_trailer;

    return NGX_OK;
}


/*
 * Chunk signature (S3 chunked upload): HMAC over the previous signature
 * and the chunk's SHA-256 (hash == NULL: finish ch->chunk_sha), compared
 * in constant time with the chunk-signature the client sent; on success
 * it becomes the previous signature of the next chunk.
 */

static ngx_int_t
ngx_http_objspace_chunked_verify_chunk(ngx_http_objspace_chunked_t *ch,
    const u_char *hash)
{
    u_char     h[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char     sig[NGX_HTTP_OBJSPACE_SHA256_LEN];
    ngx_str_t  date, scope;

    if (ch->mode == NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
        return NGX_OK;
    }

    if (hash == NULL) {
        SHA256_Final(h, &ch->chunk_sha);
        hash = h;
    }

    date.data = ch->amz_date;
    date.len = NGX_HTTP_OBJSPACE_AMZ_DATE_LEN;
    scope.data = ch->scope;
    scope.len = ch->scope_len;

    ngx_http_objspace_sigv4_chunk_sign(ch->key, &date, &scope, ch->prev, hash,
                                       sig);

    if (!ngx_http_objspace_sigv4_equal(sig, ch->sig)) {
        return ngx_http_objspace_chunked_fail(ch,
                                      NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE);
    }

    ngx_memcpy(ch->prev, sig, NGX_HTTP_OBJSPACE_SHA256_LEN);

    return NGX_OK;
}


/*
 * One trailer line "name:value" CRLF (S3 "trailing headers").  Expected:
 * the x-amz-trailer checksum exactly once, then, in the signed-trailer
 * mode, "x-amz-trailer-signature:<64 hex>" = HMAC over the previous
 * (final chunk) signature and SHA-256 of the checksum lines, each as
 * "name:value\n".  Anything else, or an empty line before the trailer is
 * complete, is a TRAILER error.
 */

static ngx_int_t
ngx_http_objspace_chunked_trailer_line(ngx_http_objspace_chunked_t *ch)
{
    u_char     *line, *colon, hash[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char      sig[NGX_HTTP_OBJSPACE_SHA256_LEN];
    size_t      len;
    ngx_str_t   name, value, date, scope;

    line = ch->trailer;
    len = ch->trailer_len;
    ch->trailer_len = 0;

    if (len == 0 || line[len - 1] != '\r') {
        return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
    }

    len--;

    colon = memchr(line, ':', len);

    if (colon == NULL) {
        return ngx_http_objspace_chunked_fail(ch,
                                        NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER);
    }

    name.data = line;
    name.len = colon - line;
    value.data = colon + 1;
    value.len = line + len - value.data;
    ngx_http_objspace_chunked_trim(&value);

    if (ngx_http_objspace_chunked_caseeq(name.data, name.len,
                                         ch->trailer_name.data,
                                         ch->trailer_name.len))
    {
        if (ch->cksum_seen) {
            return ngx_http_objspace_chunked_fail(ch,
                                        NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER);
        }

        ch->cksum_seen = 1;

        if (ch->mode == NGX_HTTP_OBJSPACE_CHUNKED_SIGNED_TRAILER) {
            SHA256_Update(&ch->chunk_sha, line, len);
            SHA256_Update(&ch->chunk_sha, "\n", 1);
        }

        if (ngx_http_objspace_cksum_verify(ch->cksum, &ch->ck, &value)
            != NGX_OK)
        {
            return ngx_http_objspace_chunked_fail(ch,
                                       NGX_HTTP_OBJSPACE_CHUNKED_ERR_CHECKSUM);
        }

        if (ch->mode == NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
            ch->state = sw_done;
        }

        return NGX_OK;
    }

    if (ch->mode != NGX_HTTP_OBJSPACE_CHUNKED_SIGNED_TRAILER
        || !ch->cksum_seen
        || !ngx_http_objspace_chunked_caseeq(name.data, name.len,
                                (u_char *) NGX_HTTP_OBJSPACE_TRAILER_SIG,
                                sizeof(NGX_HTTP_OBJSPACE_TRAILER_SIG) - 1))
    {
        return ngx_http_objspace_chunked_fail(ch,
                                        NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER);
    }

    if (value.len != NGX_HTTP_OBJSPACE_SHA256_HEX_LEN
        || ngx_http_objspace_sigv4_unhex(ch->sig, value.data, value.len)
           != NGX_OK)
    {
        return ngx_http_objspace_chunked_fail(ch,
                                         NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX);
    }

    SHA256_Final(hash, &ch->chunk_sha);

    date.data = ch->amz_date;
    date.len = NGX_HTTP_OBJSPACE_AMZ_DATE_LEN;
    scope.data = ch->scope;
    scope.len = ch->scope_len;

    ngx_http_objspace_sigv4_trailer_sign(ch->key, &date, &scope, ch->prev,
                                         hash, sig);

    if (!ngx_http_objspace_sigv4_equal(sig, ch->sig)) {
        return ngx_http_objspace_chunked_fail(ch,
                                      NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE);
    }

    ch->state = sw_done;

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_chunked_fail(ngx_http_objspace_chunked_t *ch,
    ngx_uint_t err)
{
    ch->error = err;
    ch->state = sw_error;

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_objspace_chunked_hexval(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static ngx_int_t
ngx_http_objspace_chunked_caseeq(const u_char *a, size_t alen,
    const u_char *b, size_t blen)
{
    size_t  i;

    if (alen != blen) {
        return 0;
    }

    for (i = 0; i < alen; i++) {
        if (ngx_tolower(a[i]) != ngx_tolower(b[i])) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_objspace_chunked_trim(ngx_str_t *s)
{
    while (s->len && (s->data[0] == ' ' || s->data[0] == '\t')) {
        s->data++;
        s->len--;
    }

    while (s->len && (s->data[s->len - 1] == ' '
                      || s->data[s->len - 1] == '\t'))
    {
        s->len--;
    }
}


ngx_int_t
ngx_http_objspace_cksum_by_name(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_objspace_cksum_names[i].name.len; i++) {
        if (ngx_http_objspace_chunked_caseeq(name->data, name->len,
                                 ngx_http_objspace_cksum_names[i].name.data,
                                 ngx_http_objspace_cksum_names[i].name.len))
        {
            return ngx_http_objspace_cksum_names[i].alg;
        }
    }

    return NGX_HTTP_OBJSPACE_CKSUM_NONE;
}


void
ngx_http_objspace_cksum_init(ngx_uint_t alg,
    ngx_http_objspace_cksum_ctx_t *ctx)
{
    switch (alg) {

    case NGX_HTTP_OBJSPACE_CKSUM_CRC32:
        ctx->crc32 = (uint32_t) crc32(0L, Z_NULL, 0);
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_CRC32C:
        ctx->crc32 = 0xffffffff;
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_SHA1:
        SHA1_Init(&ctx->sha1);
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_SHA256:
        SHA256_Init(&ctx->sha256);
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_CRC64NVME:
        ctx->crc64 = 0xffffffffffffffffULL;
        break;

    default:
        break;
    }
}


void
ngx_http_objspace_cksum_update(ngx_uint_t alg,
    ngx_http_objspace_cksum_ctx_t *ctx, const u_char *p, size_t len)
{
    size_t  n;

    switch (alg) {

    case NGX_HTTP_OBJSPACE_CKSUM_CRC32:
        while (len) {
            /* zlib takes uInt lengths */
            n = ngx_min(len, 0x40000000);
            ctx->crc32 = (uint32_t) crc32(ctx->crc32, p, (uInt) n);
            p += n;
            len -= n;
        }

        break;

    case NGX_HTTP_OBJSPACE_CKSUM_CRC32C:
        ctx->crc32 = ngx_http_objspace_crc32c(ctx->crc32, p, len);
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_SHA1:
        SHA1_Update(&ctx->sha1, p, len);
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_SHA256:
        SHA256_Update(&ctx->sha256, p, len);
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_CRC64NVME:
        ctx->crc64 = ngx_http_objspace_crc64nvme(ctx->crc64, p, len);
        break;

    default:
        break;
    }
}


/* S3 "Checking object integrity": base64 of the big-endian digest */

size_t
ngx_http_objspace_cksum_final(ngx_uint_t alg,
    ngx_http_objspace_cksum_ctx_t *ctx,
    u_char b64[NGX_HTTP_OBJSPACE_CKSUM_B64_LEN + 1])
{
    u_char      d[SHA256_DIGEST_LENGTH];
    size_t      n;
    uint32_t    c32;
    uint64_t    c64;
    ngx_uint_t  i;

    switch (alg) {

    case NGX_HTTP_OBJSPACE_CKSUM_CRC32:
    case NGX_HTTP_OBJSPACE_CKSUM_CRC32C:
        c32 = ctx->crc32;

        if (alg == NGX_HTTP_OBJSPACE_CKSUM_CRC32C) {
            c32 ^= 0xffffffff;
        }

        for (i = 0; i < 4; i++) {
            d[i] = (u_char) (c32 >> (24 - 8 * i));
        }

        n = 4;
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_SHA1:
        SHA1_Final(d, &ctx->sha1);
        n = SHA_DIGEST_LENGTH;
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_SHA256:
        SHA256_Final(d, &ctx->sha256);
        n = SHA256_DIGEST_LENGTH;
        break;

    case NGX_HTTP_OBJSPACE_CKSUM_CRC64NVME:
        c64 = ctx->crc64 ^ 0xffffffffffffffffULL;

        for (i = 0; i < 8; i++) {
            d[i] = (u_char) (c64 >> (56 - 8 * i));
        }

        n = 8;
        break;

    default:
        b64[0] = '\0';
        return 0;
    }

    return EVP_EncodeBlock(b64, d, n);
}


ngx_int_t
ngx_http_objspace_cksum_verify(ngx_uint_t alg,
    ngx_http_objspace_cksum_ctx_t *ctx, ngx_str_t *b64)
{
    u_char     want[NGX_HTTP_OBJSPACE_CKSUM_B64_LEN + 1];
    size_t     n;
    ngx_str_t  v;

    v = *b64;
    ngx_http_objspace_chunked_trim(&v);

    n = ngx_http_objspace_cksum_final(alg, ctx, want);

    if (n == 0 || v.len != n || CRYPTO_memcmp(want, v.data, n) != 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static uint32_t
ngx_http_objspace_crc32c(uint32_t crc, const u_char *p, size_t len)
{
    while (len--) {
        crc = ngx_http_objspace_crc32c_table[(crc ^ *p++) & 0xff]
              ^ (crc >> 8);
    }

    return crc;
}


static uint64_t
ngx_http_objspace_crc64nvme(uint64_t crc, const u_char *p, size_t len)
{
    while (len--) {
        crc = ngx_http_objspace_crc64nvme_table[(crc ^ *p++) & 0xff]
              ^ (crc >> 8);
    }

    return crc;
}
