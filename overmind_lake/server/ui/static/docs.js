// Starts Swagger UI on the OpenAPI document embedded in the page (no request, no CDN).
window.addEventListener("load", function () {
  var spec = JSON.parse(document.getElementById("openapi-spec").textContent);
  window.ui = SwaggerUIBundle({ spec: spec, dom_id: "#swagger-ui", deepLinking: true });
});
