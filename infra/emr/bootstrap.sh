#!/usr/bin/env bash
# EMR bootstrap action (runs on every node before Flink is installed):
#   1. a Python 3.11 virtualenv in /opt/emberwatch/venv with the job's requirements,
#   2. the Emberwatch package from S3, importable from that virtualenv,
#   3. the pinned Kinesis connector jar from Maven Central, checked before use,
#   4. the job's PARSE_READING UDF jar (built with the package, shipped in it) linked into lib/.
# Usage: bootstrap.sh s3://BUCKET/artifacts/emberwatch-VERSION-DIGEST.zip [CONNECTOR_SHA256]
# The connector's version and SHA-256 are pinned here and in jobs/bushfire/connector.py (tests check
# that they agree); a second argument overrides the digest.
set -euo pipefail

ARTIFACT_URI="${1:?usage: bootstrap.sh s3://bucket/artifacts/package.zip [connector-sha256]}"
PREFIX=/opt/emberwatch
CONNECTOR_VERSION=4.0.0-1.16
CONNECTOR_SHA256=8ce0499c6fc3e7c7c4b17c138c152a2a4d6ee3095e374aaf7503265f112b4261
EXPECTED_SHA256="${2:-$CONNECTOR_SHA256}"
CONNECTOR_JAR="flink-sql-connector-kinesis-${CONNECTOR_VERSION}.jar"
CONNECTOR_URL="https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kinesis/${CONNECTOR_VERSION}/${CONNECTOR_JAR}"

log() { echo "[emberwatch-bootstrap] $*" >&2; }

sudo mkdir -p "$PREFIX/app" "$PREFIX/lib" "$PREFIX/bin"
sudo chown -R "$(id -un):$(id -gn)" "$PREFIX"
# The job's local alert log and dead letters (written by the YARN containers' user).
sudo install -d -m 1777 /var/lib/emberwatch

# 1. Python: EMR 7 (Amazon Linux 2023) ships 3.9; PyFlink 1.20 supports 3.8-3.11, we prefer 3.11.
if ! command -v python3.11 >/dev/null 2>&1; then
    log "installing python3.11"
    sudo dnf install -y -q python3.11 python3.11-pip python3.11-devel
fi
python3.11 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install -q --upgrade pip

# 2. The package: unpack it, install its requirements, make it importable (a .pth file).
log "fetching $ARTIFACT_URI"
aws s3 cp --only-show-errors "$ARTIFACT_URI" "$PREFIX/package.zip"
rm -rf "$PREFIX/app" && mkdir -p "$PREFIX/app"
"$PREFIX/venv/bin/python" -m zipfile -e "$PREFIX/package.zip" "$PREFIX/app"
log "installing requirements: $(tr '\n' ' ' < "$PREFIX/app/requirements.txt")"
"$PREFIX/venv/bin/python" -m pip install -q -r "$PREFIX/app/requirements.txt"
site_packages=$("$PREFIX/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PREFIX/app" > "$site_packages/emberwatch.pth"
install -m 0755 "$PREFIX"/app/emr/*.sh "$PREFIX/bin/"
"$PREFIX/venv/bin/python" -c 'import cep, common, jobs, pyflink' \
    || { log "the package does not import in $PREFIX/venv"; exit 1; }

# 3. The Kinesis connector (EMR's Flink does not bundle it): pinned version, checked digest.
log "fetching $CONNECTOR_JAR"
curl -fsSL --retry 5 --retry-connrefused -o "$PREFIX/lib/$CONNECTOR_JAR" "$CONNECTOR_URL"
echo "$EXPECTED_SHA256  $PREFIX/lib/$CONNECTOR_JAR" | sha256sum --check --status \
    || { log "SHA-256 mismatch for $CONNECTOR_JAR (expected $EXPECTED_SHA256)"; exit 1; }
# 4. The parser UDF: built with the package (jobs.bushfire.parser_jar), linked where `flink run -C` finds it.
parser_jar="$PREFIX/app/jobs/bushfire/jvm/emberwatch-parse-reading.jar"
[ -f "$parser_jar" ] || { log "the package has no $parser_jar: rebuild it with emberwatch-deploy"; exit 1; }
ln -sf "$parser_jar" "$PREFIX/lib/emberwatch-parse-reading.jar"
log "done"
