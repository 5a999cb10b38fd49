# Sourced by benchmarks: an "apiserver" that is nginx serving a 1 KiB ConfigMap over TLS.
#
# start_tls_upstream WORK PORT [PROXY_PORT]
#   WORK must be readable by nginx's workers (they run as nobody when started by root).
#   Writes WORK/cert.pem (CN and DNS name bench-upstream, IP 127.0.0.1), the object at
#   /api/v1/namespaces/default/configmaps/bench, WORK/kubeconfig for it, and starts nginx; with
#   PROXY_PORT a second nginx proxies plain HTTP there to the upstream (keepalive, buffering off,
#   the upstream certificate verified). Stop them with: stop_tls_upstream WORK
#
# The proxy is an nginx of its own, in a session of its own, as every proxy measured against it
# is: one worker serving both the proxy and the upstream would pass each request from proxy to
# upstream inside one thread, with no process switch, which no separate proxy can do.
start_tls_upstream() {
  local work=$1 up=$2 proxy=${3:-}
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=bench-upstream \
    -addext subjectAltName=DNS:bench-upstream,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  mkdir -p "$work/www/api/v1/namespaces/default/configmaps" "$work/logs" "$work/tmp"
  python3 -c 'import json; print(json.dumps({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"bench","namespace":"default","uid":"0"*36,"resourceVersion":"1"},"data":{"payload":"x"*850}}))' \
    > "$work/www/api/v1/namespaces/default/configmaps/bench"
  cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
error_log $work/logs/error.log;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp; uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  default_type application/json;
  server { listen 127.0.0.1:$up ssl; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem; root $work/www; }
}
NGINX
  nginx -p "$work" -c "$work/nginx.conf"
  if [ -n "$proxy" ]; then
    cat > "$work/nginx-proxy.conf" <<NGINX
worker_processes 1;
error_log $work/logs/proxy-error.log;
pid $work/nginx-proxy.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp; uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  upstream apiserver { server 127.0.0.1:$up; keepalive 64; }
  server {
    listen 127.0.0.1:$proxy;
    location / {
      proxy_pass https://apiserver; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off;
      proxy_ssl_verify on; proxy_ssl_trusted_certificate $work/cert.pem; proxy_ssl_name bench-upstream; proxy_ssl_server_name on; proxy_ssl_session_reuse on;
    }
  }
}
NGINX
    nginx -p "$work" -c "$work/nginx-proxy.conf"
  fi
  cat > "$work/kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "https://127.0.0.1:$up", certificate-authority: "$work/cert.pem"}}]
users: [{name: bench, user: {token: bench-token}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
current-context: bench
KCFG
}

stop_tls_upstream() {
  local work=$1
  nginx -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true
  [ -e "$work/nginx-proxy.conf" ] && nginx -p "$work" -c "$work/nginx-proxy.conf" -s stop 2>/dev/null || true
}
