#!/usr/bin/env bash
# A CA, a server certificate for the name droptailer and a client certificate, for trying
# droptailer out (README) or a lab; production takes them from its own PKI.
# Usage: examples/droptailer/make-certs.sh DIR
set -euo pipefail
dir="${1:?usage: make-certs.sh DIR}"
mkdir -p "$dir"
cd "$dir"
key() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -keyout "$2.key" -out "$2.csr" 2>/dev/null; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj /CN=droptailer-ca -keyout ca.key -out ca.crt 2>/dev/null
key droptailer tls
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -out tls.crt \
  -extfile <(printf 'subjectAltName=DNS:droptailer\nextendedKeyUsage=serverAuth\n') 2>/dev/null
key fw01 client
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -out client.crt \
  -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
rm -f ./*.csr ca.srl
chmod 600 ./*.key
echo "$dir: ca.crt, tls.crt/tls.key (server, name droptailer), client.crt/client.key"
