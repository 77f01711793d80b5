var U,Be,Bt,V,be,pe,We,ue,Fe,ve,ge,Wt,re=Symbol.for("pv"),_e={},$e=[],Ft=/^m(i|n|o|s|text|space)$/,ye=Array.isArray,ke=$e.slice,X=Object.assign;function Q(e){e&&e.parentNode&&e.remove()}function He(e,t,n){var s,l,r,a={},i=arguments.length;for(r in t)r=="key"?s=t[r]:r=="ref"&&typeof e!="function"?l=t[r]:a[r]=t[r];return i>2&&(a.children=i>3?ke.call(arguments,2):n),oe(e,a,s,l,null)}function oe(e,t,n,s,l){var r={type:e,props:t,key:n,ref:s,__k:null,__:null,__b:0,__e:null,__c:null,constructor:re,__v:l||++Be,__i:-1,__u:0};return!l&&U.vnode&&U.vnode(r),r}function fe(e){return e.children}function ce(e,t){this.props=e,this.context=t,this.__g=0}function G(e,t){if(t==null)return e.__&&G(e.__,e.__i+1);for(var n;t<e.__k.length;t++)if((n=e.__k[t])&&n.__e)return n.__e;return typeof e.type!="function"||e.props.__P?null:G(e)}function Ht(e){var t,n=e.__v,s=n.__e,l=[],r=[],a=e.__P;a&&((t=X({constructor:re},n)).__v=n.__v+1,U.vnode&&U.vnode(t),we(a,t,n,e.__n,a.namespaceURI,32&n.__u?[s]:null,l,s||G(n),32&n.__u,r),t.__v=n.__v,t.__.__k[t.__i]=t,Ve(l,t,r),n.__=n.__e=null,t.__e!=s&&Me(t))}function Me(e){if((e=e.__)&&e.__c&&!e.props.__P)return e.__e=null,e.__k.some(function(t){return t&&(e.__e=t.__e)}),Me(e)}function Ue(e){(8&e.__g||(e.__g|=8,V.push(e),pe++))&&be==U.debounceRendering||((be=U.debounceRendering)||queueMicrotask)(ze)}function ze(){try{for(var e,t=1;V.length;)V.length>t&&V.sort(We),e=V.shift(),t=V.length,8&e.__g&&Ht(e)}finally{(pe=V.length)&&(be||queueMicrotask)(ze)}}function Je(e,t,n,s,l,r,a,i,_,d,c){var $,f,u,v,S,k,E=s.__k||$e,w=t.length;for(_=Mt(n,t,E,_,w),$=0;$<w;$++)(u=n.__k[$])!=null&&(f=~u.__i&&E[u.__i]||_e,u.__i=$,k=we(e,u,f,l,r,a,i,_,d,c),v=u.__e,(f.ref!=u.ref||8&f.__u)&&(f.ref&&xe(f.ref,null,u,f),u.ref&&c.push(u.ref,u.__c||v,u)),S=S||v,4&u.__u?(_=je(u,_,e,!f.__v),f.__e&&(f.__e=null)):typeof u.type=="function"&&k!==void 0?_=k:v&&(_=v.nextSibling),u.__u&=-21);return n.__e=S,_}function Mt(e,t,n,s,l){var r,a,i,_,d,c,$,f,u,v=n.length,S=v,k=0,E=0,w=e.__k=Array(l);for(r=0;r<l;r++)(a=t[r])!=null&&typeof a!="boolean"&&typeof a!="function"?(typeof a!="object"||a.constructor===String?a=w[r]=oe(null,a):ye(a)?a=w[r]=oe(fe,{children:a}):a.constructor===re&&a.__b?a=w[r]=oe(a.type,a.props,a.key,a.ref,a.__v):w[r]=a,_=r+k,a.__=e,a.__b=e.__b+1,i=null,~(d=a.__i=zt(a,n,_,S))&&(S--,(i=n[d])&&(i.__u|=2)),i&&i.__v?(a.__u|=16,d==_-1?k--:d==_+1?k++:d!=_&&(d>_?k--:k++,E=1)):(~d||(l>v?k--:l<v&&k++),typeof a.type!="function"&&(a.__u|=4))):w[r]=null;if(E){for(c=[],$=[],r=0;r<l;r++)if((a=w[r])&&16&a.__u){for(k=0,f=c.length;k<f;)c[u=k+f>>1]<a.__i?k=u+1:f=u;c[k]=a.__i,$[r]=k+1}for(k=c.length;r--;)$[r]&&($[r]==k?k--:w[r].__u|=4)}if(S)for(r=0;r<v;r++)!(i=n[r])||2&i.__u||(i.__e==s&&(s=G(i)),Se(i,i));return s}function je(e,t,n,s){var l,r,a,i;if(typeof e.type=="function"){if(e.props.__P)return t;if(l=e.__k)for(r=0;r<l.length;r++)l[r]&&(l[r].__=e,t=je(l[r],t,n,!1));return t}for(t&&!t.parentNode&&(t=G(e))&&!t.parentNode&&(t=null),a=e.__e,i=t;i&&i.nodeType==8;)i=i.nextSibling;for(a!=i&&(!s&&n.moveBefore&&a.parentNode?n.moveBefore(a,t):n.insertBefore(a,t||null)),t=a;(t=t&&t.nextSibling)&&t.nodeType==8&&!t.data.startsWith("$s"););return t}function zt(e,t,n,s){var l,r=e.key,a=e.type,i=t[n],_=i&&!(2&i.__u);if(i===null&&r==null||_&&r==i.key&&a==i.type)return n;if(s>(_?1:0)){for(l=n-1;l>=0;l--)if((i=t[l])&&!(2&i.__u)&&r==i.key&&a==i.type)return l;for(l=n+1;l<t.length;l++)if((i=t[l])&&!(2&i.__u)&&r==i.key&&a==i.type)return l}return-1}function qe(e,t,n){n==null&&(n=""),t[0]=="-"?e.setProperty(t,n):e[t]=n}function le(e,t,n,s,l){var r,a;if(t=="style")if(typeof n=="string")e.style.cssText=n;else{if(typeof s=="string"&&(e.style.cssText=s=""),s)for(t in s)n&&t in n||qe(e.style,t);if(n)for(t in n)s&&n[t]==s[t]||qe(e.style,t,n[t])}else if(t[0]=="o"&&t[1]=="n")typeof n!="function"&&(n=null),typeof s!="function"&&(s=null),(e.__e||(e.__e={}))[t]=n,n&&s||(a=ge[t]||(ge[t]=Jt(t)),(e.__a||(e.__a={}))[t]=ve,r=t!=(t=t.replace(Fe,"$1")),(t=t.slice(2))[0]<"a"&&(t=t.toLowerCase()),n?e.addEventListener(t,a,r):e.removeEventListener(t,a,r));else{if(l=="http://www.w3.org/2000/svg")t=t.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(t!="width"&&t!="height"&&t!="href"&&t!="list"&&t!="form"&&t!="tabIndex"&&t!="download"&&t!="rowSpan"&&t!="colSpan"&&t!="role"&&t!="popover"&&t in e)try{return void(e[t]=n??"")}catch{}if(typeof n=="function")return;n==null||n===!1&&t[4]!="-"?e.removeAttribute(t):e.setAttribute(t,t=="popover"&&n==1?"":n)}}function Jt(e){return function(t){var n=this.__e;if(n){if(n=n[e],t[ue]==null)t[ue]=ve++;else if(t[ue]<this.__a[e])return;return n(U.event?U.event(t):t)}}}function we(e,t,n,s,l,r,a,i,_,d){var c,$,f,u,v,S,k,E,w,D,P,z,C,O,W,A,b,h,g=t.type;if(t.constructor!==re)return null;128&n.__u&&(_=32&n.__u,c=n.__c.__z)&&(t.__u|=_,$=r=[],c.nodeType==8?i=de(c,r):r.push(c),i=r[0]||i),(c=U.__b)&&c(t);e:if(typeof g=="function"){f=a.length;try{if(E=t.props,w=(c=g.prototype)&&c.render,D=(c=g.contextType)&&s[c.__c],P=c?D?D.props.value:c.__:s,(u=n.__c)?(t.__c=u,2&u.__g&&(u.__g|=1)):(w?t.__c=u=new g(E,P):(t.__c=u=new ce(E,P),u.constructor=g,u.render=Kt),D&&D.sub(u),u.state||(u.state={}),u.__n=s,u.__g|=8,u.__h=[],u.__k=[]),w&&(u.__s||(u.__s=u.state),g.getDerivedStateFromProps&&(u.__s==u.state&&(u.__s=X({},u.__s)),X(u.__s,g.getDerivedStateFromProps(E,u.__s)))),v=u.props,S=u.state,u.__v=t,n.__c){if(E!==v&&w&&!g.getDerivedStateFromProps&&u.componentWillReceiveProps&&u.componentWillReceiveProps(E,P),t.__v==n.__v&&!(8&u.__g)||!(4&u.__g)&&u.shouldComponentUpdate&&u.shouldComponentUpdate(E,u.__s,P)===!1){t.__v!=n.__v&&(u.props=E,u.state=u.__s,u.__g&=-9),t.__e=n.__e,t.__k=n.__k,t.__k.some(function(T){T&&(T.__=t)}),$e.push.apply(u.__h,u.__k),u.__k=[],u.__h.length&&a.push(u),i=G(n);break e}u.componentWillUpdate&&u.componentWillUpdate(E,u.__s,P),w&&u.componentDidUpdate&&u.__h.push(function(){u.componentDidUpdate(v,S,k)})}else w&&!g.getDerivedStateFromProps&&u.componentWillMount&&u.componentWillMount(),w&&u.componentDidMount&&u.__h.push(u.componentDidMount);u.context=P,u.props=E,u.__P=e,u.__g&=-5,z=U.__r,C=w?25:0;do u.__g&=-9,z&&z(t),c=u.render(u.props,u.state=u.__s,u.context);while(8&u.__g&&++C<25);w&&($e.push.apply(u.__h,u.__k),u.__k=[]),u.state=u.__s,u.getChildContext&&(s=X({},s,u.getChildContext())),w&&n.__c&&u.getSnapshotBeforeUpdate&&(k=u.getSnapshotBeforeUpdate(v,S)),O=c&&c.type===fe&&c.key==null?c.props.children:c,E.__P&&(c=i,l=(e=E.__P).namespaceURI,_=r=null,n.props&&n.props.__P!=e&&(n.__k.some(function(T){T&&Se(T,T)}),n.__k=null),i=n.__k?G(n,0):null),i=Je(e,ye(O)?O:[O],t,n,s,l,r,a,i,_,d),E.__P&&(t.__e=null,i=c),t.__u&=-161,$&&$.some(Q),u.__h.length&&a.push(u),1&u.__g&&(u.__g&=-4)}catch(T){if(a.length=f,t.__v=null,_||r)if(T&&T.then){if(t.__u|=128|_,r){for(~(b=r.indexOf(i||void 0))||(b=r.length);(h=r[b-1])&&h.nodeType==8;)b--;for(;b<r.length;b++)if(h=r[b])if(r[b]=null,W){if(h==A)break}else{if(h.nodeType!=8)break;h.data.startsWith("$s")&&(A=de(W=h))}}if(!W){for(;i&&i.nodeType==8&&i.nextSibling;)i=i.nextSibling;W=i}(c=de(W=t.__c.__z||(t.__c.__z=W)))?(t.__e=W,i=c):t.__e=i,i=i&&i.nextSibling}else r&&r.some(Q);else t.__e=n.__e;t.__k||(t.__k=n.__k||[]),T&&T.then||Ke(t),U.__e(T,t,n)}}else i=t.__e=jt(n.__e,t,n,s,l,r,a,_,d,e);return(c=U.diffed)&&c(t),i}function de(e,t){if(e&&e.nodeType==8&&e.data.startsWith("$s"))for(var n=1;e=e.nextSibling;){if(e.nodeType==8){if(e.data.startsWith("$s"))n++;else if(e.data.startsWith("/$s")&&!--n)return e}t&&t.push(e)}}function Ke(e){e&&(e.__c&&(e.__c.__g|=4),e.__k&&e.__k.some(Ke))}function Ve(e,t,n){for(var s=0;s<n.length;)xe(n[s++],n[s++],n[s++]);U.__c&&U.__c(t,e),e.some(function(l){try{e=l.__h,l.__h=[],e.some(function(r){r.call(l)})}catch(r){U.__e(r,l.__v)}})}function jt(e,t,n,s,l,r,a,i,_,d){var c,$,f,u,v,S,k,E,w=n.props||_e,D=t.props,P=t.type;if(P=="svg"?l="http://www.w3.org/2000/svg":P=="math"?l="http://www.w3.org/1998/Math/MathML":l||(l="http://www.w3.org/1999/xhtml"),r){for(c=0;c<r.length;c++)if((v=r[c])&&(P?v.localName==P:v.nodeType==3)){e=v,r[c]=null;break}}if(!e){if(E=d.ownerDocument||document,!P)return E.createTextNode(D);e=E.createElementNS(l,P,D.is?D:d),i&&(U.__m&&U.__m(t,r),i=!1),r=null}if(P){if(d=P=="template"&&e.content||e,r=P=="textarea"&&D.defaultValue!=null?null:r&&ke.call(d.childNodes),!i&&r)for(w={},c=0;c<e.attributes.length;c++)w[(v=e.attributes[c]).name]=v.value;for(c in w)v=w[c],c=="dangerouslySetInnerHTML"?f=v:c=="children"||c in D||c=="value"&&"defaultValue"in D||c=="checked"&&"defaultChecked"in D||le(e,c,null,v,l);for(c in D)v=D[c],c=="children"?u=v:c=="dangerouslySetInnerHTML"?$=v:c=="value"?S=v:c=="checked"?k=v:i&&typeof v!="function"||w[c]===v||le(e,c,v,w[c],l);$?(i||f&&($.__html==f.__html||$.__html==e.innerHTML)||(e.innerHTML=$.__html),t.__k=[]):(f&&(e.textContent=""),(P=="foreignObject"||l=="http://www.w3.org/1998/Math/MathML"&&Ft.test(P))&&(l="http://www.w3.org/1999/xhtml"),Je(d,ye(u)?u:[u],t,n,s,l,r,a,r?r[0]:n.__k&&G(n,0),i,_),r&&r.some(Q)),i&&P!="textarea"||(c="value",P=="progress"&&S==null?e.removeAttribute(c):S==null||S===e[c]&&(P!="progress"||S)||le(e,c,S,w[c],l),c="checked",k!=null&&k!=e[c]&&le(e,c,k,w[c],l))}else w===D||i&&e.data==D||(e.data=D);return e}function xe(e,t,n,s){try{typeof e=="function"?t?t.__x=e(t)||1:s&&(s=s.__c||s.__e)&&(t=s.__x)&&(s.__x=null,typeof t=="function"?t():e(null)):e.current=t}catch(l){U.__e(l,n)}}function Se(e,t,n){var s,l,r,a;if(U.unmount&&U.unmount(e),!(s=e.ref)||s.current&&s.current!=e.__e||xe(s,null,t,e),s=e.__c){if(s.componentWillUnmount)try{s.componentWillUnmount()}catch(i){U.__e(i,t)}s.__P=s.__n=null}if(s=e.__k)for(a=0;a<s.length;a++)s[a]&&Se(s[a],t,typeof e.type!="function"||n&&!e.props.__P);!n&&(s=e.__c)&&(s=s.__z)&&(l=de(s,r=[]))&&(s==e.__e&&r.some(Q),Q(l),Q(s)),n||Q(e.__e),e.__e=e.__c=e.__=null}function Kt(e,t,n){return this.constructor(e,n)}function Ge(e,t){var n,s,l,r;U.__&&U.__(e,t),t.nodeType==9&&(t=t.documentElement),s=(n=e&&32&e.__u)?null:t.__k,t.__k=oe(fe,{children:[e]}),l=[],r=[],we(t,t.__k,s||_e,_e,t.namespaceURI,s?null:t.firstChild?ke.call(t.childNodes):null,l,s?s.__e:t.firstChild,n,r),Ve(l,t.__k,r),t.__k.props.children=null}U={__e:function(e,t,n,s){for(var l,r,a;t=t.__;)if((l=t.__c)&&!(1&l.__g)){l.__g|=4;try{if((a=(r=l.constructor)&&r.getDerivedStateFromError)&&l.setState(r.getDerivedStateFromError(e)),l.componentDidCatch&&(l.componentDidCatch(e,s||{}),a=1),a&&8&l.__g)return void(l.__g|=2)}catch(i){e=i}}throw pe=0,e}},Be=0,Bt=function(e){return e!=null&&e.constructor===re},ce.prototype.setState=function(e,t){var n=this.__s;n&&n!=this.state||(n=this.__s=X({},this.state)),typeof e=="function"&&(e=e(X({},n),this.props)),e&&(X(n,e),this.__v&&(t&&this.__k.push(t),Ue(this)))},ce.prototype.forceUpdate=function(e){this.__v&&(this.__g|=4,e&&this.__h.push(e),Ue(this))},ce.prototype.render=fe,V=[],pe=0,We=function(e,t){return e.__v.__b-t.__v.__b},ue=Symbol(),Fe=/(PointerCapture)$|Capture$/i,ve=0,ge={},Wt=0;var ae,M,Ce,Ye,Te=Object.is,me=0,st=[],Ee=[],F=U,Qe=F.__b,Xe=F.__r,Ze=F.diffed,et=F.__c,tt=F.unmount,nt=F.__;function Ne(e,t){F.__h&&F.__h(M,e,me||t),me=0;var n=M.__H||(M.__H={__:[],__h:[]});return e>=n.__.length&&n.__.push({}),n.__[e]}function m(e){return me=1,Vt(it,e)}function Vt(e,t,n){var s=Ne(ae++,2);if(s.t=e,!s.__c&&(s.__=[n?n(t):it(void 0,t),function(r){var a=(s.__N||s.__)[0],i=s.t(a,r);Te(a,i)||(s.__N=[i,s.__[1]],s.__c.setState({}))}],s.__c=M,!M.__f)){M.__f=!0;var l=M.shouldComponentUpdate;M.shouldComponentUpdate=function(r,a,i){var _=this.__H;if(!_)return!0;var d=!1,c=this.props!=r;if(_.__.some(function(f){f.__N&&(d=!0,Te(f.__[0],f.__N[0])||(c=!0))}),l){var $=l.call(this,r,a,i);return d?$||c:$}return!d||c}}return s.__}function R(e,t){var n=Ne(ae++,3);!F.__s&&at(n.__H,t)&&(n.__P=!0,n.__=e,n.u=t,M.__H.__h.push(n))}function Z(e){return me=5,Gt(function(){return{current:e}},[])}function Gt(e,t){var n=Ne(ae++,7);return at(n.__H,t)&&(n.__=e(),n.__H=t),n.__}function Yt(){var e;do{for(;e=Ee.shift();)try{se(e)}catch(n){F.__e(n,{__:(e=e.__P)&&e.__v})}for(;e=st.shift();){var t=e.__H;if(e.__P&&t)try{t.__h.some(se),t.__h.some(Pe),t.__h=[]}catch(n){t.__h=[],F.__e(n,e.__v)}}}while(Ee.length)}F.__b=function(e){M=null,Qe&&Qe(e)},F.__=function(e,t){e&&t.__k&&t.__k.__m&&(e.__m=t.__k.__m),nt&&nt(e,t)},F.__r=function(e){Xe&&Xe(e),ae=0;var t=(M=e.__c).__H;t&&(Ce==M?M.__h=[]:(t.__h.some(se),t.__h.some(Pe),ae=0),t.__h=[],t.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})),Ce=M},F.diffed=function(e){Ze&&Ze(e);var t=e.__c;t&&t.__H&&(t.__H.__h.length&&rt(st.push(t)),t.__H.__.some(function(n){n.u&&(n.__H=n.u)})),Ce=M=null},F.__c=function(e,t){t.some(function(n){try{n.__h.some(se),n.__h=n.__h.filter(function(s){return!s.__||Pe(s)})}catch(s){n.__h=[function(){throw s}]}}),et&&et(e,t)},F.unmount=function(e){tt&&tt(e);var t,n,s=e.__c;s&&s.__H&&(s.__H.__.some(function(l){try{if(l.__P&&l.__c){if(n===void 0){for(n=e.__;n&&(!n.__c||!n.__c.__P);)n=n.__;n=n&&n.__c}l.__P=n,rt(Ee.push(l))}else se(l)}catch(r){t=r}}),s.__H=void 0,t&&F.__e(t,s.__v))};var ot=typeof requestAnimationFrame=="function";function Qt(e){var t,n=function(){clearTimeout(s),ot&&cancelAnimationFrame(t),setTimeout(e)},s=setTimeout(n,35);ot&&(t=requestAnimationFrame(n))}function rt(e){e!=1&&Ye==F.requestAnimationFrame||((Ye=F.requestAnimationFrame)||Qt)(Yt)}function se(e){var t=M,n=e.__c;typeof n=="function"&&(e.__c=void 0,n()),M=t}function Pe(e){var t=M;e.__c=e.__(),M=t}function at(e,t){return!e||e.length!=t.length||t.some(function(n,s){return!Te(n,e[s])})}function it(e,t){return typeof t=="function"?t(e):t}var Ie="yunqiao.console.token",Y={get token(){return sessionStorage.getItem(Ie)},set(e){sessionStorage.setItem(Ie,e)},clear(){sessionStorage.removeItem(Ie)}},ee=class extends Error{constructor(t,n){let s=n&&n.error;super(s?s.message:`HTTP ${t}`),this.status=t,this.code=s?s.code:"HTTP_"+t,this.details=s&&s.details||{}}};function lt(e=Y.token){let t={};return e&&(t.Authorization="Bearer "+e),t}async function N(e,t,n,s={}){let l={...lt(s.token===void 0?Y.token:s.token),...s.headers||{}};n!==void 0&&(l["Content-Type"]="application/json");let r;try{r=await fetch(t,{method:e,headers:l,body:n===void 0?void 0:JSON.stringify(n)})}catch(_){throw new ee(0,{error:{code:"NETWORK",message:String(_)}})}let a=await r.text(),i=null;try{i=a?JSON.parse(a):null}catch{i=a}if(!r.ok)throw new ee(r.status,i);return i}var q=e=>N("GET",e),x=encodeURIComponent,Oe=null;function ut(){return Oe||(Oe=N("GET","/v1/openapi.json",void 0,{token:null}).then(e=>new Set(Object.keys(e&&e.paths||{}))).catch(()=>new Set)),Oe}async function ct(e,t){let n=await fetch(e,{headers:lt()});if(!n.ok){let _=null;try{_=await n.json()}catch{}throw new ee(n.status,_)}let s=Number(n.headers.get("content-length"))||null,l=n.body.getReader(),r=[],a=0;for(;;){let{done:_,value:d}=await l.read();if(_)break;r.push(d),a+=d.length,t(a,s)}let i=/filename="?([^";]+)"?/.exec(n.headers.get("content-disposition")||"");return{blob:new Blob(r,{type:n.headers.get("content-type")||"application/octet-stream"}),name:i?i[1]:null}}function dt(e,t,n){return new Promise((s,l)=>{let r=new XMLHttpRequest;r.open("POST",e);let a=Y.token;a&&r.setRequestHeader("Authorization","Bearer "+a),r.setRequestHeader("Content-Type",t.type||"application/octet-stream"),r.upload.onprogress=i=>n(i.loaded,i.total),r.onerror=()=>l(new ee(0,{error:{code:"NETWORK",message:"upload failed"}})),r.onload=()=>{let i=null;try{i=r.responseText?JSON.parse(r.responseText):null}catch{}r.status>=200&&r.status<300?s(i):l(new ee(r.status,i))},r.send(t)})}function pt(e){let t=location.protocol==="https:"?"wss:":"ws:";return new WebSocket(e||`${t}//${location.host}/v1/ws`,["yunqiao.v1","bearer."+(Y.token||"")])}var _t="yunqiao.console.lang";function Xt(){let e=localStorage.getItem(_t);if(e==="en"||e==="zh")return e;let t=navigator.languages&&navigator.languages.length?navigator.languages:[navigator.language||"en"];return t[0]&&t[0].toLowerCase().startsWith("zh")?"zh":"en"}var ie=Xt();function $t(e){ie=e,localStorage.setItem(_t,e),document.documentElement.lang=e==="zh"?"zh-CN":"en"}document.documentElement.lang=ie==="zh"?"zh-CN":"en";var o=(e,t)=>ie==="zh"?t:e;var mt=function(e,t,n,s){var l;t[0]=0;for(var r=1;r<t.length;r++){var a=t[r++],i=t[r]?(t[0]|=a?1:2,n[t[r++]]):t[++r];a===3?s[0]=i:a===4?s[1]=Object.assign(s[1]||{},i):a===5?(s[1]=s[1]||{})[t[++r]]=i:a===6?s[1][t[++r]]+=i+"":a?(l=e.apply(i,mt(e,i,n,["",null])),s.push(l),i[0]?t[0]|=2:(t[r-2]=0,t[r]=l)):s.push(i)}return s},ft=new Map;function ht(e){var t=ft.get(this);return t||(t=new Map,ft.set(this,t)),(t=mt(this,t.get(e)||(t.set(e,t=(function(n){for(var s,l,r=1,a="",i="",_=[0],d=function(f){r===1&&(f||(a=a.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?_.push(0,f,a):r===3&&(f||a)?(_.push(3,f,a),r=2):r===2&&a==="..."&&f?_.push(4,f,0):r===2&&a&&!f?_.push(5,0,!0,a):r>=5&&((a||!f&&r===5)&&(_.push(r,0,a,l),r=6),f&&(_.push(r,f,0,l),r=6)),a=""},c=0;c<n.length;c++){c&&(r===1&&d(),d(c));for(var $=0;$<n[c].length;$++)s=n[c][$],r===1?s==="<"?(d(),_=[_],r=3):a+=s:r===4?a==="--"&&s===">"?(r=1,a=""):a=s+a[0]:i?s===i?i="":a+=s:s==='"'||s==="'"?i=s:s===">"?(d(),r=1):r&&(s==="="?(r=5,l=a,a=""):s==="/"&&(r<5||n[c][$+1]===">")?(d(),r===3&&(_=_[0]),r=_,(_=_[0]).push(2,0,r),r=0):s===" "||s==="	"||s===`
`||s==="\r"?(d(),r=2):a+=s),r===3&&a==="!--"&&(r=4,_=_[0])}return d(),_})(e)),t),arguments,[])).length>1?t:t[0]}var p=ht.bind(He);function I({error:e}){return e?p`<div class="error" role="alert" data-code=${e.code||""}>
    <strong>${e.code||o("Error","错误")}</strong> ${e.message||String(e)}
  </div>`:null}function L(){let[e,t]=m(!1),[n,s]=m(null);return[e,n,async r=>{t(!0),s(null);try{return await r()}catch(a){s(a);return}finally{t(!1)}},s]}function B({busy:e,children:t,...n}){return p`<button ...${n} disabled=${e||n.disabled} aria-busy=${e?"true":"false"}>
    ${e?p`<span class="spinner" aria-hidden="true"></span>`:null}${t}
  </button>`}function K(e,t){try{return JSON.parse(e)}catch(n){throw{code:"INVALID_JSON",message:`${t}: ${n instanceof Error?n.message:n}`}}}function bt({value:e,max:t,label:n}){let s=t?Math.round(e/t*100):null;return p`<div class="progress">
    <progress value=${t?e:void 0} max=${t||void 0} aria-label=${n}></progress>
    <span>${s!==null?s+"%":De(e)}</span>
  </div>`}function De(e){return e<1024?e+" B":e<1024*1024?(e/1024).toFixed(1)+" KB":(e/1024/1024).toFixed(1)+" MB"}function te(e){return e==null?"":typeof e=="object"?JSON.stringify(e):String(e)}var Zt=["eq","ne","gt","gte","lt","lte","in","nin","prefix","contains","exists"],en=["_id","_owner","_group","_created","_updated","_v"];function tn(e){try{return JSON.parse(e)}catch{return e}}function gt(e){let t={};for(let[n,s]of Object.entries(e))(!n.startsWith("_")||n==="_v")&&(t[n]=s);return JSON.stringify(t,null,2)}function vt({name:e,table:t}){let n=[...en,...t.fields.map(b=>b.name)],[s,l]=m([]),[r,a]=m({f:"",dir:"asc"}),[i,_]=m("20"),[d,c]=m(null),[$,f]=m([]),[u,v]=m(null),[S,k,E]=L(),[w,D]=m(null),P=Z(0),z=b=>E(async()=>{let h=++P.current,g={where:s.filter(H=>H.f).map(H=>[H.f,H.op,tn(H.v)]),limit:Number(i)||20,count:!0};r.f&&(g.order=[[r.f,r.dir]]),b&&(g.cursor=b);let T;try{T=await N("POST",`/v1/tables/${x(e)}/query`,g)}catch(H){if(H.code!=="COUNT_UNAVAILABLE")throw H;T={...await N("POST",`/v1/tables/${x(e)}/query`,{...g,count:!1}),noCount:H.message}}h===P.current&&(c(T),v(b))});R(()=>{z(null)},[e]);let C=()=>{f([]),z(null)},O=()=>{f([...$,u]),z(d.cursor)},W=()=>{let b=$.slice(0,-1),h=$[$.length-1]??null;f(b),z(h)},A=[...n.filter(b=>!["_group","_created","_updated"].includes(b))];return p`<section class="data">
    <form class="query" onSubmit=${b=>{b.preventDefault(),C()}}>
      <fieldset>
        <legend>${o("Conditions","条件")}</legend>
        ${s.map((b,h)=>p`<div class="row cond">
          <select aria-label=${o("Field","字段")+" "+(h+1)} data-k="f" value=${b.f} onChange=${g=>l(s.map((T,H)=>H===h?{...T,f:g.target.value}:T))}>${n.map(g=>p`<option>${g}</option>`)}</select>
          <select aria-label=${o("Operator","运算符")+" "+(h+1)} data-k="op" value=${b.op} onChange=${g=>l(s.map((T,H)=>H===h?{...T,op:g.target.value}:T))}>${Zt.map(g=>p`<option>${g}</option>`)}</select>
          <input aria-label=${o("Value (JSON or text)","值（JSON 或文本）")+" "+(h+1)} data-k="v" value=${b.v} onInput=${g=>l(s.map((T,H)=>H===h?{...T,v:g.target.value}:T))} />
          <button type="button" class="link" aria-label=${o("Remove condition","删除条件")+" "+(h+1)} onClick=${()=>l(s.filter((g,T)=>T!==h))}>✕</button>
        </div>`)}
        <button type="button" id="add-cond" onClick=${()=>l([...s,{f:n[6]||"_id",op:"eq",v:""}])}>${o("Add a condition","添加条件")}</button>
      </fieldset>
      <div class="row">
        <label>${o("Order by","排序")} <select id="order-field" value=${r.f} onChange=${b=>a({...r,f:b.target.value})}><option value="">${o("(none)","（无）")}</option>${n.map(b=>p`<option>${b}</option>`)}</select></label>
        <select id="order-dir" aria-label=${o("Direction","方向")} value=${r.dir} onChange=${b=>a({...r,dir:b.target.value})}><option value="asc">${o("ascending","升序")}</option><option value="desc">${o("descending","降序")}</option></select>
        <label>${o("Per page","每页")} <input id="limit" class="narrow" type="number" min="1" max="100" value=${i} onInput=${b=>_(b.target.value)} /></label>
        <${B} busy=${S} type="submit" id="run-query">${o("Run query","查询")}<//>
        <button type="button" id="new-record" onClick=${()=>D({isNew:!0,text:`{
}`})}>${o("New record","新建记录")}</button>
      </div>
    </form>
    <${I} error=${k} />
    ${d?p`
      <p role="status" id="query-status" data-total=${d.total??""}>${d.total!==void 0&&d.total!==null?o(`${d.total} records match; ${d.items.length} shown (page ${$.length+1}).`,`共 ${d.total} 条匹配；显示 ${d.items.length} 条（第 ${$.length+1} 页）。`):o(`${d.items.length} shown (page ${$.length+1}).`,`显示 ${d.items.length} 条（第 ${$.length+1} 页）。`)}
        ${d.noCount?p`<br /><small class="hint" id="no-count">${o("No count for this query: ","此查询无计数：")}${d.noCount}</small>`:null}
        ${d.scanned>d.items.length*2?p`<br /><small class="hint">${o(`${d.scanned} records read to find these (no index serves this query fully).`,`为此读取了 ${d.scanned} 条记录（没有索引能完全支持此查询）。`)}</small>`:null}</p>
      <div class="scroll"><table class="grid" id="records">
        <thead><tr>${A.map(b=>p`<th>${b}</th>`)}<th></th></tr></thead>
        <tbody>${d.items.map(b=>p`<tr data-id=${b._id}>
          ${A.map(h=>p`<td data-col=${h}>${te(b[h])}</td>`)}
          <td><button class="link" data-edit=${b._id} onClick=${()=>D({record:b,text:gt(b)})}>${o("Edit","编辑")}</button></td>
        </tr>`)}</tbody>
      </table></div>
      <div class="row pager">
        <button type="button" id="page-prev" disabled=${$.length===0||S} onClick=${W}>${o("Previous page","上一页")}</button>
        <button type="button" id="page-next" disabled=${!d.cursor||S} onClick=${O}>${o("Next page","下一页")}</button>
      </div>`:null}
    ${w?p`<${nn} name=${e} editing=${w} onDone=${()=>{D(null),z(u)}} onCancel=${()=>D(null)} />`:null}
  </section>`}function nn({name:e,editing:t,onDone:n,onCancel:s}){let[l,r]=m(t.text),[a,i,_]=L(),[d,c]=m(!1),$=t.record&&t.record._id,f=()=>_(async()=>{let k=K(l,o("Record","记录"));t.isNew?await N("POST",`/v1/tables/${x(e)}/records`,k):await N("PATCH",`/v1/tables/${x(e)}/records/${x($)}`,k),n()}),u=()=>_(async()=>{let k=await N("GET",`/v1/tables/${x(e)}/records/${x($)}`);r(gt(k))}),v=()=>_(async()=>{await N("DELETE",`/v1/tables/${x(e)}/records/${x($)}`),n()}),S=i&&i.status===409&&i.code==="CONFLICT"&&!t.isNew;return p`<section class="editor" aria-label=${o("Record editor","记录编辑器")} id="record-editor">
    <h2>${t.isNew?o("New record","新建记录"):o(`Record ${$}`,`记录 ${$}`)}</h2>
    <label for="record-json">${o("Fields as JSON (keep _v to be told of changes made meanwhile)","字段（JSON；保留 _v 以发现期间的修改）")}</label>
    <textarea id="record-json" rows="10" value=${l} onInput=${k=>r(k.target.value)}></textarea>
    ${S?p`<div class="error" role="alert" id="conflict">
      ${o("Someone changed this record since you opened it (its _v moved on). Reload it to see the current version, then make your change again.","打开后此记录已被他人修改（_v 已变化）。请重新加载查看当前版本，再重新修改。")}
      <button type="button" id="conflict-reload" onClick=${u}>${o("Reload record","重新加载记录")}</button>
    </div>`:p`<${I} error=${i} />`}
    <div class="row">
      <${B} busy=${a} id="record-save" onClick=${f}>${t.isNew?o("Create","创建"):o("Save","保存")}<//>
      <button type="button" onClick=${s}>${o("Cancel","取消")}</button>
      ${t.isNew?null:d?p`<button type="button" class="danger" id="record-delete-confirm" onClick=${v}>${o("Really delete","确认删除")}</button>`:p`<button type="button" class="danger" id="record-delete" onClick=${()=>c(!0)}>${o("Delete","删除")}</button>`}
    </div>
  </section>`}var on=["string","text","integer","number","boolean","datetime","json","ref","file"],yt=["before_create","before_update","before_delete","after_create","after_update","after_delete"];function kt({rest:e}){return e[0]?p`<${sn} name=${e[0]} tab=${e[1]||"data"} />`:p`<${rn} />`}function rn(){let[e,t]=m(null),[n,s]=m(""),[,l,r]=L();R(()=>{r(async()=>t((await q("/v1/tables")).items))},[]);let a=i=>{i.preventDefault(),n.trim()&&(location.hash=`#/tables/${x(n.trim())}/schema`)};return p`<section>
    <${I} error=${l} />
    ${e===null?p`<p aria-busy="true">${o("Loading…","加载中…")}</p>`:p`
    <table class="grid" id="tables-list">
      <thead><tr><th>${o("Name","名称")}</th><th>${o("Fields","字段")}</th><th>${o("Rules","规则")}</th><th>${o("Version","版本")}</th></tr></thead>
      <tbody>
        ${e.length===0?p`<tr><td colspan="4">${o("No tables yet.","还没有数据表。")}</td></tr>`:null}
        ${e.map(i=>p`<tr>
          <td><a href=${"#/tables/"+x(i.name)}>${i.name}</a></td>
          <td>${i.fields.map(_=>_.name).join(", ")}</td>
          <td><code>${i.acl&&i.acl.record||""}</code></td>
          <td>${i.version}</td>
        </tr>`)}
      </tbody>
    </table>`}
    <form class="row" onSubmit=${a}>
      <label for="new-table">${o("New table","新建数据表")}</label>
      <input id="new-table" value=${n} placeholder="notes" onInput=${i=>s(i.target.value)} />
      <button type="submit" id="new-table-go">${o("Define…","定义…")}</button>
    </form>
  </section>`}function sn({name:e,tab:t}){let[n,s]=m(void 0),[,l,r]=L(),a=()=>r(async()=>{try{s(await q(`/v1/tables/${x(e)}`))}catch(_){if(_.status===404)s(null);else throw _}});R(()=>{a()},[e]);let i=[["data",o("Data","数据")],["schema",o("Schema","结构")]];return p`<section>
    <p><a href="#/tables">${o("All tables","全部数据表")}</a> / <strong id="table-name">${e}</strong></p>
    <div role="tablist" class="tabs">
      ${i.map(([_,d])=>p`<a role="tab" id=${"tab-"+_} aria-selected=${t===_?"true":"false"} href=${`#/tables/${x(e)}/${_}`}>${d}</a>`)}
    </div>
    <${I} error=${l} />
    ${n===void 0?p`<p aria-busy="true">${o("Loading…","加载中…")}</p>`:t==="schema"||n===null?p`<${ln} name=${e} table=${n} onSaved=${_=>s(_)} />`:p`<${vt} name=${e} table=${n} />`}
  </section>`}function Ae(e){return{name:e.name||"",type:e.type||"string",required:!!e.required,unique:!!e.unique,index:!!e.index,length:e.length??"",min:e.min??"",max:e.max??"",table:e.table||"",many:!!e.many,acl:e.acl||"",default:e.default===void 0?"":JSON.stringify(e.default),check:e.check||""}}function an(e){let t={name:e.name.trim(),type:e.type};for(let n of["required","unique","index","many"])e[n]&&(t[n]=!0);for(let n of["length","min","max"])if(String(e[n]).trim()!==""){let s=Number(e[n]);t[n]=Number.isFinite(s)?s:e[n]}for(let n of["table","acl","check"])e[n].trim()&&(t[n]=e[n].trim());if(e.default.trim())try{t.default=JSON.parse(e.default)}catch{t.default=e.default}return t}function ln({name:e,table:t,onSaved:n}){let[s,l]=m(()=>t?t.fields.map(Ae):[Ae({})]),[r,a]=m(()=>({record:"",create:"",group:"",...t&&t.acl||{}})),[i,_]=m(()=>({...t&&t.hooks||{}})),[d,c]=m(!1),[$,f,u]=L(),[v,S]=m(""),[k,E]=m(null),w=f&&typeof f.details?.field=="string"?un(f.details.field):null,D=(C,O,W)=>l(s.map((A,b)=>b===C?{...A,[O]:W}:A)),P=()=>u(async()=>{S("");let C={};for(let b of["record","create","group"])r[b].trim()&&(C[b]=r[b].trim());let O={};for(let b of yt)(i[b]||"").trim()&&(O[b]=i[b].trim());let W={fields:s.filter(b=>b.name.trim()).map(an),acl:C,hooks:O},A=await N("PUT",`/v1/tables/${x(e)}${d?"?drop=true":""}`,W);for(;A.backfill&&!A.backfill.done;)E(A.backfill),A=await N("POST",`/v1/tables/${x(e)}/backfill`);E(null),S(o(`Saved: version ${A.version}.`,`已保存：版本 ${A.version}。`)),n(A)}),z=(C,O)=>w&&w.row===C&&(w.what===O||!w.what&&O==="name")?"invalid":void 0;return p`<section class="schema">
    <table class="grid" id="schema-fields">
      <caption>${o("Fields","字段")}</caption>
      <thead><tr>
        <th>${o("Name","名称")}</th><th>${o("Type","类型")}</th><th>${o("Required","必填")}</th><th>${o("Unique","唯一")}</th><th>${o("Index","索引")}</th>
        <th>${o("Length","长度")}</th><th>${o("Min","最小")}</th><th>${o("Max","最大")}</th><th>${o("Ref table","引用表")}</th><th>${o("Many","多值")}</th><th>${o("Field rule","字段规则")}</th><th>${o("Default (JSON)","默认值（JSON）")}</th><th></th>
      </tr></thead>
      <tbody>
        ${s.map((C,O)=>{let W=w&&w.row===C.name,A=(h,g,T="narrow")=>p`<td><input class=${T} aria-label=${g+" "+(O+1)} data-k=${h} value=${C[h]} aria-invalid=${z(C.name,h)?"true":void 0} aria-describedby=${W?"field-error":void 0} onInput=${H=>D(O,h,H.target.value)} /></td>`,b=(h,g)=>p`<td><input type="checkbox" aria-label=${g+" "+(O+1)} data-k=${h} checked=${C[h]} onChange=${T=>D(O,h,T.target.checked)} /></td>`;return p`<tr class=${W?"has-error":""} data-field=${C.name}>
            ${A("name",o("Name","名称"),"mid")}
            <td><select aria-label=${o("Type","类型")+" "+(O+1)} data-k="type" value=${C.type} onChange=${h=>D(O,"type",h.target.value)}>${on.map(h=>p`<option>${h}</option>`)}</select></td>
            ${b("required",o("Required","必填"))}${b("unique",o("Unique","唯一"))}${b("index",o("Index","索引"))}
            ${A("length",o("Length","长度"))}${A("min",o("Min","最小"))}${A("max",o("Max","最大"))}
            ${A("table",o("Ref table","引用表"),"mid")}${b("many",o("Many","多值"))}${A("acl",o("Field rule","字段规则"))}${A("default",o("Default","默认值"),"mid")}
            <td><button type="button" class="link" aria-label=${o("Remove field","删除字段")+" "+(C.name||O+1)} onClick=${()=>l(s.filter((h,g)=>g!==O))}>✕</button></td>
          </tr>${W?p`<tr class="field-error-row"><td colspan="13"><span id="field-error" role="alert" class="error-inline">${f.message}</span></td></tr>`:null}`})}
      </tbody>
    </table>
    <button type="button" id="add-field" onClick=${()=>l([...s,Ae({})])}>${o("Add a field","添加字段")}</button>
    <fieldset>
      <legend>${o("Rules","规则")}</legend>
      <label>${o("Records (owner:group:other over r w d)","记录（owner:group:other，r w d）")} <input id="acl-record" placeholder="rwd:r:-" value=${r.record} aria-invalid=${w&&w.row==="acl"?"true":void 0} onInput=${C=>a({...r,record:C.target.value})} /></label>
      <label>${o("Who may create","谁可创建")} <input id="acl-create" placeholder="users" value=${r.create} onInput=${C=>a({...r,create:C.target.value})} /></label>
      <label>${o("Default group","默认分组")} <input id="acl-group" value=${r.group} onInput=${C=>a({...r,group:C.target.value})} /></label>
    </fieldset>
    <fieldset>
      <legend>${o("Hooks (module.export)","钩子（模块.导出）")}</legend>
      ${yt.map(C=>p`<label>${C} <input data-hook=${C} value=${i[C]||""} onInput=${O=>_({...i,[C]:O.target.value})} /></label>`)}
    </fieldset>
    <label class="check"><input type="checkbox" id="allow-drop" checked=${d} onChange=${C=>c(C.target.checked)} /> ${o("Allow dropping fields","允许删除字段")}</label>
    <div class="row">
      <${B} busy=${$} id="schema-save" onClick=${P}>${t?o("Save schema","保存结构"):o("Create table","创建数据表")}<//>
      ${v?p`<span role="status" id="schema-note">${v}</span>`:null}
    </div>
    ${k?p`<p role="status">${o(`Back-filling: ${k.scanned} scanned, ${k.updated} updated…`,`回填中：已扫描 ${k.scanned}，已更新 ${k.updated}…`)}</p>`:null}
    ${f&&!w?p`<${I} error=${f} />`:null}
    ${f&&w&&!s.some(C=>C.name===w.row)?p`<${I} error=${f} />`:null}
  </section>`}function un(e){let t=/^fields\.([^.]+)(?:\.(.+))?$/.exec(e);return t?{row:t[1],what:t[2]||""}:/^acl/.exec(e)?{row:"acl",what:e}:{row:e,what:""}}function wt(){let[e,t]=m([]),[n,s]=m(null),[l,r,a]=L(),i=_=>a(async()=>{let d=await N("GET",`/v1/admin/users?limit=50${_?"&cursor="+x(_):""}`);t(_?[...e,...d.items]:d.items),s(d.cursor||null)});return R(()=>{i(null)},[]),p`<section>
    <${I} error=${r} />
    <table class="grid" id="users">
      <thead><tr><th>ID</th><th>${o("Nickname","昵称")}</th><th>${o("Groups (comma-separated)","分组（逗号分隔）")}</th><th>${o("Created","创建时间")}</th></tr></thead>
      <tbody>${e.map(_=>p`<${cn} key=${_.id} user=${_} />`)}</tbody>
    </table>
    ${e.length===0&&!l?p`<p>${o("No users yet: they appear when they log in.","还没有用户：用户登录后出现。")}</p>`:null}
    ${n?p`<${B} busy=${l} id="users-more" onClick=${()=>i(n)}>${o("Load more","加载更多")}<//>`:null}
  </section>`}function cn({user:e}){let[t,n]=m(e),[s,l]=m(e.groups.join(", ")),[r,a,i]=L(),[_,d]=m(!1),c=$=>{$.preventDefault(),i(async()=>{let f=s.split(",").map(v=>v.trim()).filter(Boolean),u=await N("PATCH",`/v1/admin/users/${x(t.id)}`,{groups:f});n(u),l(u.groups.join(", ")),d(!0)})};return p`<tr data-user=${t.id}>
    <td><code>${t.id}</code></td>
    <td>${t.nickname||""}</td>
    <td><form class="row" onSubmit=${c}>
      <input aria-label=${o("Groups of","分组：")+" "+(t.nickname||t.id)} data-groups=${t.id} value=${s} onInput=${$=>{l($.target.value),d(!1)}} />
      <${B} busy=${r} type="submit" data-save-groups=${t.id}>${o("Save","保存")}<//>
      ${_?p`<span role="status" class="ok">${o("Saved","已保存")}</span>`:null}
    </form><${I} error=${a} /></td>
    <td>${t.created_at}</td>
  </tr>`}function xt({rest:e}){return e[0]?p`<${pn} ns=${e[0]} />`:p`<${dn} />`}function dn(){let[e,t]=m([]),[n,s]=m({name:"",read:"admins",write:"admins",scope:"shared"}),[l,r,a]=L(),i=()=>a(async()=>t((await q("/v1/kv")).items));R(()=>{i()},[]);let _=c=>{c.preventDefault(),a(async()=>{await N("PUT",`/v1/kv/${x(n.name.trim())}`,{read:n.read,write:n.write,scope:n.scope}),location.hash=`#/kv/${x(n.name.trim())}`})},d=(c,$)=>p`<label>${$} <input data-k=${c} value=${n[c]} onInput=${f=>s({...n,[c]:f.target.value})} /></label>`;return p`<section>
    <${I} error=${r} />
    <table class="grid" id="kv-namespaces">
      <thead><tr><th>${o("Namespace","命名空间")}</th><th>${o("Read","读")}</th><th>${o("Write","写")}</th><th>${o("Scope","范围")}</th></tr></thead>
      <tbody>${e.map(c=>p`<tr><td><a href=${"#/kv/"+x(c.name)}>${c.name}</a></td><td>${c.read}</td><td>${c.write}</td><td>${c.scope}</td></tr>`)}</tbody>
    </table>
    <form class="row" onSubmit=${_}>
      ${d("name",o("New namespace","新命名空间"))}${d("read",o("Read","读"))}${d("write",o("Write","写"))}${d("scope",o("Scope (shared or user)","范围（shared 或 user）"))}
      <${B} busy=${l} type="submit">${o("Create","创建")}<//>
    </form>
  </section>`}function pn({ns:e}){let[t,n]=m(null),[s,l]=m(""),[r,a]=m(""),[i,_,d]=L(),c=u=>d(async()=>n(await q(`/v1/kv/${x(e)}${u?"?cursor="+x(u):""}`)));R(()=>{c(null)},[e]);let $=u=>{u.preventDefault(),d(async()=>{await N("PUT",`/v1/kv/${x(e)}/${x(s)}`,{value:K(r,o("Value","值"))}),l(""),a(""),n(await q(`/v1/kv/${x(e)}`))})},f=u=>d(async()=>{await N("DELETE",`/v1/kv/${x(e)}/${x(u)}`),n(await q(`/v1/kv/${x(e)}`))});return p`<section>
    <p><a href="#/kv">${o("All namespaces","全部命名空间")}</a> / <strong>${e}</strong></p>
    <${I} error=${_} />
    ${t?p`<table class="grid" id="kv-entries">
      <thead><tr><th>${o("Key","键")}</th><th>${o("Value","值")}</th><th>v</th><th>${o("Expires","过期")}</th><th></th></tr></thead>
      <tbody>${t.items.map(u=>p`<tr>
        <td><code>${u.key}</code></td><td><code>${te(u.value)}</code></td><td>${u.v}</td><td>${u.expires_at||""}</td>
        <td><button class="link" onClick=${()=>{l(u.key),a(JSON.stringify(u.value))}}>${o("Edit","编辑")}</button> <button class="link danger" onClick=${()=>f(u.key)}>${o("Delete","删除")}</button></td>
      </tr>`)}</tbody>
    </table>
    ${t.cursor?p`<button onClick=${()=>c(t.cursor)}>${o("Next page","下一页")}</button>`:null}`:null}
    <form class="row" onSubmit=${$}>
      <label>${o("Key","键")} <input id="kv-key" value=${s} onInput=${u=>l(u.target.value)} /></label>
      <label>${o("Value (JSON)","值（JSON）")} <input id="kv-value" class="wide" value=${r} onInput=${u=>a(u.target.value)} /></label>
      <${B} busy=${i} type="submit" id="kv-put">${o("Put","写入")}<//>
    </form>
  </section>`}function St(){let[e,t]=m([]),[n,s]=m({pattern:"",subscribe:"users",publish:"users"}),[l,r,a]=L(),i=async()=>t((await q("/v1/topics/rules")).items);R(()=>{a(i)},[]);let _=$=>{$.preventDefault(),a(async()=>{await N("PUT",`/v1/topics/rules/${x(n.pattern.trim())}`,{subscribe:n.subscribe,publish:n.publish}),await i()})},d=$=>a(async()=>{await N("DELETE",`/v1/topics/rules/${x($)}`),await i()}),c=($,f)=>p`<label>${f} <input id=${"rule-"+$} value=${n[$]} onInput=${u=>s({...n,[$]:u.target.value})} /></label>`;return p`<section>
    <${I} error=${r} />
    <table class="grid" id="rules">
      <thead><tr><th>${o("Topic or prefix*","主题或前缀*")}</th><th>${o("Subscribe","订阅")}</th><th>${o("Publish","发布")}</th><th></th></tr></thead>
      <tbody>${e.map($=>p`<tr><td><code>${$.pattern}</code></td><td>${$.subscribe}</td><td>${$.publish}</td>
        <td><button class="link" onClick=${()=>s({pattern:$.pattern,subscribe:$.subscribe,publish:$.publish})}>${o("Edit","编辑")}</button> <button class="link danger" onClick=${()=>d($.pattern)}>${o("Delete","删除")}</button></td></tr>`)}</tbody>
    </table>
    <p class="hint">${o("Who: users, owner, group:<name>, nobody.","谁：users、owner、group:<分组>、nobody。")}</p>
    <form class="row" onSubmit=${_}>
      ${c("pattern",o("Topic or prefix*","主题或前缀*"))}${c("subscribe",o("Subscribe","订阅"))}${c("publish",o("Publish","发布"))}
      <${B} busy=${l} type="submit" id="rule-save">${o("Save rule","保存规则")}<//>
    </form>
  </section>`}var _n=200;function Ct(){let e=Z(null),[t,n]=m("closed"),[s,l]=m([]),[r,a]=m(null),[i,_]=m([]),[d,c]=m(""),[$,f]=m(""),[u,v]=m({topic:"",data:'{"text":"hi"}'}),[S,k]=m({to:"",kind:"user",cmd:"debug",body:"{}"}),[E,w]=m(null),[D,P]=m(null),z=Z(0),C=Z(new Map),O=(y,J)=>l(j=>[{dir:y,at:new Date().toLocaleTimeString(),text:J},...j].slice(0,_n)),W=Z(void 0),A=()=>{P(null);let y=pt(W.current);e.current=y,n("connecting"),y.onopen=()=>{n("open"),g({type:"hello"}).then(J=>a(J.connection||null))},y.onclose=J=>{n("closed"),O("•",`closed ${J.code} ${J.reason||""}`)},y.onerror=()=>P({code:"SOCKET",message:o("The socket could not open or failed.","连接无法打开或已出错。")}),y.onmessage=J=>{O("←",String(J.data));try{let j=JSON.parse(String(J.data));if(j.id!==void 0&&C.current.has(String(j.id))){let ne=C.current.get(String(j.id));C.current.delete(String(j.id)),ne&&ne(j)}}catch{}}},[b,h]=m(!1);R(()=>(q("/v1/admin/about").then(y=>{W.current=y.live_url||void 0,y.face==="lambda"&&!y.live_url?h(!0):A()}).catch(()=>A()),q("/v1/tables").then(y=>_(y.items.map(J=>J.name))).catch(()=>{}),()=>e.current&&e.current.close()),[]);let g=y=>new Promise(J=>{let j=e.current;if(!j||j.readyState!==WebSocket.OPEN){P({code:"SOCKET",message:o("Not connected.","未连接。")});return}z.current+=1;let ne="c"+z.current;C.current.set(ne,he=>{he.type==="error"?P(he):P(null),J(he)});let Re=JSON.stringify({...y,id:ne});O("→",Re),j.send(Re)}),T=y=>{try{y()}catch(J){P(J)}},H=y=>{y.preventDefault(),T(()=>{let J={type:"subscribe",topic:d.trim()};$.trim()&&(J.where=K($,"where")),g(J)})},Rt=y=>{y.preventDefault(),T(()=>g({type:"publish",topic:u.topic.trim(),data:K(u.data,"data")}))},Ut=y=>{y.preventDefault(),T(()=>g({type:"send",to:{[S.kind]:S.to.trim()},cmd:S.cmd,body:K(S.body,"body")}))},qt=()=>g({type:"online"}).then(y=>y.type==="ack"&&w(y));return b?p`<p role="status" id="socket-remote">${o("On AWS the live channel is served by API Gateway at the stack’s WebSocketUrl, and this function was not told where (YUNQIAO_WS_URL): deploy the current template.","在 AWS 上，实时信道由 API Gateway 在栈输出的 WebSocketUrl 提供，而这个函数没有得到它的地址（YUNQIAO_WS_URL）：请部署当前的模板。")}</p>`:p`<section class="channel">
    <p role="status" id="socket-state" data-state=${t}>
      ${o("Socket","连接")}: <strong>${t==="open"?o("open","已连接"):t==="connecting"?o("connecting…","连接中…"):o("closed","已关闭")}</strong>
      ${r?p` · ${o("connection","连接 ID")} <code>${r}</code>`:null}
      ${t==="closed"?p` <button onClick=${A} id="reconnect">${o("Reconnect","重新连接")}</button>`:null}
    </p>
    <${I} error=${D} />
    <div class="cols">
      <div>
        <form onSubmit=${H} class="stack">
          <h2>${o("Subscribe","订阅")}</h2>
          <label>${o("Topic (or table:<name> to watch a table)","主题（或 table:<表名> 以监听数据表）")} <input id="sub-topic" list="table-topics" value=${d} onInput=${y=>c(y.target.value)} /></label>
          <datalist id="table-topics">${i.map(y=>p`<option value=${"table:"+y} />`)}</datalist>
          <label>${o("Where (tables, JSON, optional)","where（数据表，JSON，可选）")} <input id="sub-where" value=${$} onInput=${y=>f(y.target.value)} /></label>
          <div class="row">
            <button type="submit" id="sub-go">${o("Subscribe","订阅")}</button>
            <button type="button" onClick=${()=>g({type:"unsubscribe",topic:d.trim()})}>${o("Unsubscribe","取消订阅")}</button>
          </div>
        </form>
        <form onSubmit=${Rt} class="stack">
          <h2>${o("Publish","发布")}</h2>
          <label>${o("Topic","主题")} <input id="pub-topic" value=${u.topic} onInput=${y=>v({...u,topic:y.target.value})} /></label>
          <label>${o("Data (JSON)","数据（JSON）")} <input id="pub-data" value=${u.data} onInput=${y=>v({...u,data:y.target.value})} /></label>
          <button type="submit" id="pub-go">${o("Publish","发布")}</button>
        </form>
        <form onSubmit=${Ut} class="stack">
          <h2>${o("Direct message","私信")}</h2>
          <div class="row">
            <select aria-label=${o("Send to","发送给")} value=${S.kind} onChange=${y=>k({...S,kind:y.target.value})}><option value="user">${o("user id","用户 ID")}</option><option value="connection">${o("connection id","连接 ID")}</option></select>
            <input aria-label=${o("Recipient","接收者")} id="dm-to" value=${S.to} onInput=${y=>k({...S,to:y.target.value})} />
          </div>
          <label>cmd <input id="dm-cmd" value=${S.cmd} onInput=${y=>k({...S,cmd:y.target.value})} /></label>
          <label>${o("Body (JSON)","内容（JSON）")} <input id="dm-body" value=${S.body} onInput=${y=>k({...S,body:y.target.value})} /></label>
          <button type="submit" id="dm-go">${o("Send","发送")}</button>
        </form>
        <div class="stack">
          <h2>${o("Who is online","在线用户")}</h2>
          <button id="online-go" onClick=${qt}>${o("Ask","查询")}</button>
          ${E?p`<ul id="online">${E.users.map(y=>p`<li><code>${y.id}</code> ${y.nickname||""}</li>`)}${E.users.length===0?p`<li>${o("Nobody","无人在线")}</li>`:null}${E.more?p`<li>…</li>`:null}</ul>`:null}
        </div>
      </div>
      <div>
        <div class="row"><h2>${o("Frames","帧")}</h2><button class="link" onClick=${()=>l([])}>${o("Clear","清空")}</button></div>
        <ol id="frames" class="frames" aria-live="polite">${s.map(y=>p`<li class=${y.dir==="←"?"in":"out"}><span class="dir" aria-label=${y.dir==="←"?o("received","收到"):o("sent","发出")}>${y.dir}</span> <time>${y.at}</time> <code>${y.text}</code></li>`)}</ol>
      </div>
    </div>
  </section>`}var $n=`export function hello(name) {
  return { greeting: 'hello ' + name };
}
`;function Tt({rest:e}){return e[0]==="outbox"?p`<${hn} />`:e[0]?p`<${mn} name=${e[0]} />`:p`<${fn} />`}function fn(){let[e,t]=m(null),[n,s]=m(""),[,l,r]=L();return R(()=>{r(async()=>t((await q("/v1/functions")).items))},[]),p`<section>
    <p><a href="#/functions/outbox" id="outbox-link">${o("The outbox (after-hooks waiting or failed)","发件箱（等待中或失败的后置钩子）")}</a></p>
    <${I} error=${l} />
    <table class="grid" id="modules">
      <thead><tr><th>${o("Module","模块")}</th><th>${o("Exports","导出")}</th><th>${o("Version","版本")}</th><th>${o("Deployed","部署时间")}</th><th>${o("Size","大小")}</th></tr></thead>
      <tbody>${(e||[]).map(a=>p`<tr><td><a href=${"#/functions/"+x(a.name)}>${a.name}</a></td>
        <td>${a.exports.map(i=>i.name+(i.schedule?` (${i.schedule})`:"")).join(", ")}</td>
        <td>${a.version}</td><td>${a.deployed_at}</td><td>${a.source_bytes} B</td></tr>`)}</tbody>
    </table>
    <form class="row" onSubmit=${a=>{a.preventDefault(),n.trim()&&(location.hash="#/functions/"+x(n.trim()))}}>
      <label>${o("New module","新模块")} <input id="new-module" value=${n} onInput=${a=>s(a.target.value)} /></label>
      <button type="submit" id="new-module-go">${o("Write…","编写…")}</button>
    </form>
  </section>`}function mn({name:e}){let[t,n]=m(void 0),[s,l]=m(""),[r,a]=m(""),[i,_,d]=L(),[c,$]=m(""),[f,u]=m(""),[v,S]=m('["world"]'),[k,E]=m(void 0),[w,D,P]=L(),[z,C]=m(null),O=h=>{n(h),h&&h.exports.length&&!h.exports.some(g=>g.name===f)&&u(h.exports[0].name)};R(()=>{d(async()=>{try{let h=await q(`/v1/functions/${x(e)}`);O(h),l(g=>g||h.source||""),a(g=>g||h.access||"")}catch(h){if(h.status!==404)throw h;n(null),l(g=>g||$n)}})},[e]);let W=()=>d(async()=>{let h={source:s};r.trim()&&(h.access=r.trim());let g=await N("PUT",`/v1/functions/${x(e)}`,h);O(g),$(o(`Deployed version ${g.version}.`,`已部署版本 ${g.version}。`))}),A=h=>{h.preventDefault(),P(async()=>{E(void 0);let g=K(v,o("Arguments","参数")),T=await N("POST",`/v1/fn/${x(e)}/${x(f)}`,{args:Array.isArray(g)?g:[g]});E(T.result)})},b=()=>d(async()=>C((await q(`/v1/functions/${x(e)}/logs?limit=20`)).items));return p`<section class="module">
    <p><a href="#/functions">${o("All modules","全部模块")}</a> / <strong>${e}</strong> ${t?p`· ${o("version","版本")} <span id="module-version">${t.version}</span>`:t===null?o("(new)","（新）"):""}</p>
    <label for="source">${o("Source (an ES module; each export is callable)","源码（ES 模块；每个导出都可调用）")}</label>
    <textarea id="source" class="code" rows="14" spellcheck="false" value=${s} onInput=${h=>l(h.target.value)}></textarea>
    <div class="row">
      <label>${o("Who may call (users, anyone, admins, group:<name>)","谁可调用（users、anyone、admins、group:<分组>）")} <input id="access" value=${r} placeholder="users" onInput=${h=>a(h.target.value)} /></label>
      <${B} busy=${i} id="deploy" onClick=${W}>${o("Deploy","部署")}<//>
      ${c?p`<span role="status" id="deploy-note">${c}</span>`:null}
    </div>
    <${I} error=${_} />
    ${t?p`<form class="stack" onSubmit=${A}>
      <h2>${o("Invoke","调用")}</h2>
      <div class="row">
        <label>${o("Export","导出")} <select id="export" value=${f} onChange=${h=>u(h.target.value)}>${t.exports.map(h=>p`<option>${h.name}</option>`)}</select></label>
        <label>${o("Arguments (a JSON list)","参数（JSON 数组）")} <input id="args" class="wide" value=${v} onInput=${h=>S(h.target.value)} /></label>
        <${B} busy=${w} type="submit" id="invoke">${o("Invoke","调用")}<//>
      </div>
      <${I} error=${D} />
      ${k!==void 0?p`<pre id="result" role="status">${JSON.stringify(k,null,2)}</pre>`:null}
    </form>
    <div class="stack">
      <div class="row"><h2>${o("Logs","日志")}</h2><${B} busy=${i} id="load-logs" onClick=${b}>${z?o("Refresh","刷新"):o("Show","显示")}<//></div>
      ${z?p`<table class="grid" id="logs"><thead><tr><th>${o("At","时间")}</th><th>${o("Export","导出")}</th><th>${o("Trigger","触发")}</th><th>${o("Outcome","结果")}</th><th>ms</th><th>${o("Lines","输出")}</th></tr></thead>
        <tbody>${z.map(h=>p`<tr class=${h.outcome==="ok"?"":"bad"}><td>${h.at}</td><td>${h.export}</td><td>${h.trigger}</td><td>${h.outcome}${h.error?": "+h.error:""}</td><td>${h.duration_ms}</td>
          <td>${h.logs.map(g=>p`<div><small>${g.level}</small> ${g.message}</div>`)}</td></tr>`)}</tbody></table>`:null}
    </div>`:null}
  </section>`}function hn(){let[e,t]=m([]),[n,s,l]=L(),r=async()=>t((await q("/v1/functions/outbox?limit=50")).items);return R(()=>{l(r)},[]),p`<section>
    <p><a href="#/functions">${o("All modules","全部模块")}</a> / <strong>${o("Outbox","发件箱")}</strong></p>
    <${I} error=${s} />
    <table class="grid" id="outbox">
      <thead><tr><th>ID</th><th>${o("Hook","钩子")}</th><th>${o("Record","记录")}</th><th>${o("Attempts","尝试次数")}</th><th>${o("Next try","下次尝试")}</th><th>${o("Last error","最后错误")}</th><th></th></tr></thead>
      <tbody>${e.map(a=>p`<tr class=${a.dead?"bad":""}><td><code>${a.id}</code></td><td>${a.hook||""} ${a.op||""}</td><td>${a.table||""} ${a.record_id||""}</td><td>${a.attempts}</td><td>${a.next_at||""}</td><td>${a.last_error||""}</td>
        <td><${B} busy=${n} onClick=${()=>l(async()=>{await N("POST",`/v1/functions/outbox/${x(a.id)}/retry`),await r()})}>${o("Retry","重试")}<//></td></tr>`)}</tbody>
    </table>
    ${e.length===0?p`<p>${o("The outbox is empty.","发件箱为空。")}</p>`:null}
  </section>`}function Et(){let[e,t]=m([]),[n,s]=m(null),[l,r,a]=L(),i=d=>a(async()=>{let c=await q(`/v1/files?limit=20${d?"&cursor="+x(d):""}`);t(d?[...e,...c.items]:c.items),s(c.cursor||null)});R(()=>{i(null)},[]);let _=d=>a(async()=>{await N("DELETE",`/v1/files/${x(d)}`),t(e.filter(c=>c.id!==d))});return p`<section>
    <${I} error=${r} />
    <ul class="files" id="files">${e.map(d=>p`<li>
      <${bn} file=${d} />
      <div><strong>${d.name}</strong><br /><small>${d.content_type} · ${De(d.size)} · ${d.status}${d.public?" · "+o("public","公开"):""}</small><br />
        <small>${o("owner","所有者")}: <code>${d.owner||o("admin key","管理员密钥")}</code> · ${d.created_at}</small><br />
        ${d.url?p`<a href=${d.url} target="_blank" rel="noopener noreferrer">${o("Open","打开")}</a> `:null}
        <button class="link danger" onClick=${()=>_(d.id)}>${o("Delete","删除")}</button></div>
    </li>`)}</ul>
    ${e.length===0&&!l?p`<p>${o("No files yet.","还没有文件。")}</p>`:null}
    ${n?p`<button onClick=${()=>i(n)}>${o("Load more","加载更多")}</button>`:null}
  </section>`}function bn({file:e}){let[t,n]=m(null);return R(()=>{e.status==="ready"&&/^image\//.test(e.content_type)&&q(`/v1/files/${x(e.id)}?thumb=100x100`).then(s=>n(s.url||null)).catch(()=>n(null))},[e.id]),t?p`<img class="thumb" src=${t} alt=${e.name} width="100" height="100" loading="lazy" />`:p`<div class="thumb none" aria-hidden="true">${(e.content_type||"").split("/")[1]||"?"}</div>`}function Pt(){let[e,t]=m([]),[n,s]=m(null),[l,r,a]=L(),i=d=>a(async()=>{let c=await q(`/v1/admin/pay/orders${d?"?cursor="+x(d):""}`),$=Array.isArray(c)?c:c.items||[];t(d?[...e,...$]:$),s(c&&c.cursor||null)});R(()=>{i(null)},[]);let _=e.length?Object.keys(e[0]).filter(d=>typeof e[0][d]!="object"||e[0][d]===null):[];return p`<section>
    <${I} error=${r} />
    ${e.length===0&&!l?p`<p>${o("No orders yet.","还没有订单。")}</p>`:p`
    <div class="scroll"><table class="grid" id="orders">
      <thead><tr>${_.map(d=>p`<th>${d}</th>`)}</tr></thead>
      <tbody>${e.map(d=>p`<tr>${_.map(c=>p`<td>${te(d[c])}</td>`)}</tr>`)}</tbody>
    </table></div>`}
    ${n?p`<button onClick=${()=>i(n)}>${o("Load more","加载更多")}</button>`:null}
  </section>`}function Nt(){let[e,t,n]=L(),[s,l]=m(null),[r,a]=m(null),[i,_]=m(null),d=()=>n(async()=>{a(null);let{blob:$,name:f}=await ct("/v1/admin/export",(v,S)=>l({n:v,total:S,what:o("Downloading","下载中")})),u=document.createElement("a");u.href=URL.createObjectURL($),u.download=f||"yunqiao-export",u.click(),setTimeout(()=>URL.revokeObjectURL(u.href),1e4),l(null),a({text:o(`Exported ${$.size} bytes.`,`已导出 ${$.size} 字节。`)})}),c=$=>{$.preventDefault(),i&&n(async()=>{a(null);let f=await dt("/v1/admin/import",i,(u,v)=>l({n:u,total:v,what:o("Uploading","上传中")}));l(null),a({text:o("Imported.","已导入。"),report:f})})};return p`<section class="stack">
    <p class="hint">${o("For small apps. Large ones: yunqiao export --out FILE and yunqiao import FILE.","适合小型应用。大型应用请用 yunqiao export --out FILE 和 yunqiao import FILE。")}</p>
    <div class="row"><${B} busy=${e} id="export-go" onClick=${d}>${o("Download an export","下载导出文件")}<//></div>
    <form class="row" onSubmit=${c}>
      <label>${o("Import a file","导入文件")} <input type="file" id="import-file" onChange=${$=>_($.target.files[0]||null)} /></label>
      <${B} busy=${e} type="submit" id="import-go" disabled=${!i}>${o("Import","导入")}<//>
    </form>
    ${s?p`<div role="status">${s.what} <${bt} value=${s.n} max=${s.total} label=${s.what} /></div>`:null}
    ${r?p`<div role="status" class="ok">${r.text}${r.report?p`<pre>${JSON.stringify(r.report,null,2)}</pre>`:null}</div>`:null}
    <${I} error=${t} />
  </section>`}function It(){let[e,t]=m(null),[n,s]=m(null),[l,r,a]=L(),i=()=>a(async()=>{let c=performance.now(),$;try{$={...await N("GET","/v1/health",void 0,{token:null}),ms:Math.round(performance.now()-c)}}catch(f){$={status:f.code}}s($),t(await q("/v1/admin/about"))});R(()=>{i()},[]);let _=c=>c==="server"?o("local server (yunqiao serve)","本地服务器（yunqiao serve）"):c==="lambda"?o("AWS Lambda functions","AWS Lambda 函数"):c,d=c=>c==="embedded"?o("embedded (redb on disk)","内嵌（磁盘上的 redb）"):c==="dynamodb"?"DynamoDB":c||"?";return p`<section>
    <${I} error=${r} />
    ${e?p`<dl class="facts" id="health">
      <dt>${o("Status","状态")}</dt><dd id="health-status" class=${n&&n.status==="ok"?"ok":"bad"}>${n?n.status:"?"}${n&&n.ms!==void 0?` (${n.ms} ms)`:""}</dd>
      <dt>${o("Face","运行形态")}</dt><dd id="health-face" data-face=${e.face}>${_(e.face)}</dd>
      <dt>${o("Store","存储")}</dt><dd id="health-store" data-store=${e.store}>${d(e.store)}</dd>
      <dt>${o("WeChat","微信")}</dt><dd id="health-wechat">${e.wechat==="mock"?o("built-in mock (no network)","内置模拟器（无网络）"):e.wechat}</dd>
      <dt>${o("WeChat Pay","微信支付")}</dt><dd>${e.pay?o("configured","已配置"):o("not configured","未配置")}</dd>
      <dt>${o("Files","文件")}</dt><dd>${e.files?o("available","可用"):o("not available","不可用")}</dd>
      <dt>${o("Live channel","实时信道")}</dt><dd id="health-live"><code>${e.live_url||"/v1/ws"}</code></dd>
      <dt>${o("Version","版本")}</dt><dd id="health-version">${e.version}</dd>
    </dl>`:null}
    <button onClick=${i} disabled=${l}>${o("Check again","重新检查")}</button>
  </section>`}var Le=[{id:"tables",en:"Tables",zh:"数据表",C:kt,needs:"/v1/tables"},{id:"users",en:"Users & groups",zh:"用户与分组",C:wt,needs:"/v1/admin/users"},{id:"kv",en:"Key-value",zh:"键值存储",C:xt,needs:"/v1/kv"},{id:"topics",en:"Topic rules",zh:"主题规则",C:St,needs:"/v1/topics/rules"},{id:"channel",en:"Channel debugger",zh:"通道调试",C:Ct,needs:null},{id:"functions",en:"Cloud functions",zh:"云函数",C:Tt,needs:"/v1/functions"},{id:"files",en:"Files",zh:"文件",C:Et,needs:"/v1/files"},{id:"pay",en:"Pay orders",zh:"支付订单",C:Pt,needs:"/v1/admin/pay/orders"},{id:"transfer",en:"Export / import",zh:"导出 / 导入",C:Nt,needs:"/v1/admin/export"},{id:"health",en:"Health",zh:"运行状况",C:It,needs:null}];function Ot(){let e=location.hash.replace(/^#\/?/,"").split("/").map(decodeURIComponent);return{page:e[0]||"tables",rest:e.slice(1)}}function gn({onIn:e}){let[t,n]=m(""),[s,l]=m(""),[r,a,i,_]=L(),d=async f=>{try{await N("GET","/v1/admin/about",void 0,{token:f})}catch(u){let v=u;throw v.status===403?{code:v.code,message:o("This user is not an admin (not in the admin group).","该用户不是管理员（不在 admin 分组）。")}:v}Y.set(f),e()},c=f=>{if(f.preventDefault(),!t.trim())return _({code:"EMPTY",message:o("Enter the admin key or a session token.","请输入管理员密钥或会话令牌。")});i(()=>d(t.trim()))},$=f=>{f.preventDefault(),i(async()=>{let u=await N("POST","/v1/auth/login",{code:s.trim()},{token:null});await d(u.token)})};return p`<main class="signin">
    <h1>${o("yunqiao console","云桥控制台")}</h1>
    <form onSubmit=${c} id="signin-key-form">
      <label for="signin-token">${o("Admin key or an admin user’s session token","管理员密钥或管理员用户的会话令牌")}</label>
      <input id="signin-token" type="password" autocomplete="off" value=${t} onInput=${f=>n(f.target.value)} />
      <${B} busy=${r} type="submit" id="signin-submit">${o("Sign in","登录")}<//>
    </form>
    <details>
      <summary>${o("Sign in as an admin user with a WeChat login code","用微信登录 code 以管理员用户登录")}</summary>
      <form onSubmit=${$}>
        <label for="signin-code">${o("Login code (with the built-in mock: mock:<name>:<n>)","登录 code（内置模拟器：mock:<名字>:<序号>）")}</label>
        <input id="signin-code" autocomplete="off" value=${s} onInput=${f=>l(f.target.value)} />
        <${B} busy=${r} type="submit">${o("Log in","登录")}<//>
      </form>
    </details>
    <p class="hint">${o("The key is kept in this tab only (sessionStorage) and sent in the Authorization header.","密钥只保存在本标签页（sessionStorage），通过 Authorization 头发送。")}</p>
    <${I} error=${a} />
    <${At} />
  </main>`}function At(){return p`<label class="lang">
    <span class="sr-only">${o("Language","语言")}</span>
    <select id="lang" value=${ie} onChange=${e=>{$t(e.target.value),Lt()}}>
      <option value="en">English</option>
      <option value="zh">中文</option>
    </select>
  </label>`}function vn(){let[e,t]=m(!!Y.token),[n,s]=m(Ot()),[l,r]=m(null);if(R(()=>{let d=()=>s(Ot());return addEventListener("hashchange",d),ut().then(r),()=>removeEventListener("hashchange",d)},[]),!e)return p`<${gn} onIn=${()=>t(!0)} />`;let a=Le.filter(d=>!d.needs||l&&l.has(d.needs)),i=Le.find(d=>d.id===n.page)||Le[0],_=i.C;return p`<div class="shell">
    <a class="skip" href="#main">${o("Skip to content","跳到内容")}</a>
    <nav aria-label=${o("Pages","页面")}>
      <div class="brand">${o("yunqiao","云桥")}</div>
      <ul>
        ${a.map(d=>p`<li><a href=${"#/"+d.id} id=${"nav-"+d.id} aria-current=${d.id===i.id?"page":void 0}>${o(d.en,d.zh)}</a></li>`)}
      </ul>
      <${At} />
      <button class="link" id="signout" onClick=${()=>{Y.clear(),t(!1)}}>${o("Sign out","退出")}</button>
    </nav>
    <main id="main" tabindex="-1">
      <h1>${o(i.en,i.zh)}</h1>
      <${_} rest=${n.rest} key=${i.id+"/"+n.rest.join("/")} onUnauthorized=${()=>t(!1)} />
    </main>
  </div>`}var Dt=0;function Lt(){Dt+=1,Ge(p`<${vn} key=${Dt} />`,document.getElementById("app"))}Lt();
