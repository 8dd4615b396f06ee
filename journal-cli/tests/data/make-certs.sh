#!/bin/sh
# Remakes the TLS test certificates of journal-cli/tests/nats.rs (see README.md here): a CA, a
# server certificate for 127.0.0.1 and localhost, and a client certificate, all signed by the CA,
# valid for 100 years. Needs openssl. The test suite never runs this: it reads the committed files.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days $days -subj "/CN=journal test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem

for who in server client; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $who-key.pem
    openssl req -new -key $who-key.pem -subj "/CN=journal test $who" -out "$tmp/$who.csr"
done
cat > "$tmp/server.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
cat > "$tmp/client.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT
for who in server client; do
    openssl x509 -req -in "$tmp/$who.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
        -CAserial "$tmp/ca.srl" -sha256 -days $days -extfile "$tmp/$who.ext" -out $who.pem
done
# The CA key is not needed by the tests: keeping it would only invite signing more with it.
rm ca-key.pem
